/// <reference lib="webworker" />
// The studio's worker: holds the GPU and the engine, exposes them to the UI through comlink.
// It never imports React or the store.
import { expose } from 'comlink';
import { workerApi } from '../src/worker/api';

expose(workerApi);

import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { StudioController } from './controller';
import type { StudioState } from './store/store';

export const ControllerContext = createContext<StudioController | null>(null);

export function useController(): StudioController {
  const c = useContext(ControllerContext);
  if (!c) throw new Error('useController outside <ControllerContext.Provider>');
  return c;
}

/** Selects from the studio store of the current controller. */
export function useStudio<T>(selector: (s: StudioState) => T): T {
  return useStore(useController().store, selector);
}

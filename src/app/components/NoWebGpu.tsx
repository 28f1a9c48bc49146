// Shown when the worker cannot get a WebGPU device: what went wrong and which browsers work.
export function NoWebGpu({ reason, hint }: { reason: string; hint: string }) {
  return (
    <section className="panel no-webgpu" data-testid="no-webgpu" aria-labelledby="no-webgpu-title">
      <h2 id="no-webgpu-title">This browser cannot train here: no WebGPU</h2>
      <p className="error-text">{reason}</p>
      {hint && !reason.includes(hint) && <p>{hint}</p>}
      <h3>Browsers that work</h3>
      <ul>
        <li><strong>Chrome or Edge 113+</strong> on Windows, macOS and ChromeOS; on Linux and Android, Chrome 121+ (on Linux you may need <code>chrome://flags/#enable-unsafe-webgpu</code> and Vulkan drivers).</li>
        <li><strong>Safari 26+</strong> on macOS, iOS and iPadOS.</li>
        <li><strong>Firefox 141+</strong> on Windows; on other systems, Firefox Nightly with <code>dom.webgpu.enabled</code>.</li>
      </ul>
      <p>WebGPU also needs a secure page (https or localhost) and a GPU the browser has not blocked: check <code>chrome://gpu</code> or <code>about:support</code>. Your data and models never leave this machine either way.</p>
    </section>
  );
}

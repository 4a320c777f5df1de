/** The webgpu backend as the registry loads it: Dawn only where a GPU could be (auto), one clear reason otherwise. */
import { firstLine } from '../optional.js';
import { BackendUnavailable } from '../unavailable.js';
import { gpuDeviceNodes, loadWebgpu, webgpuDeviceLine } from './loader.js';

export async function loadWebgpuBackend(auto: boolean): Promise<string> {
  // auto: only a real GPU, and without loading Dawn on machines that show no GPU at all
  if (auto && gpuDeviceNodes().length === 0) throw new BackendUnavailable('webgpu', 'no GPU device (/dev/dri/renderD*, /dev/nvidia0)');
  try {
    return webgpuDeviceLine(await loadWebgpu({ requireHardware: auto }));
  } catch (err) {
    if (err instanceof BackendUnavailable) throw err;
    throw new BackendUnavailable('webgpu', firstLine(err), 'use --backend wasm (the default) or cpu');
  }
}


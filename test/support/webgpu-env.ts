/**
 * Where the webgpu tests find a Vulkan driver when the machine has no GPU: SwiftShader, put in
 * .cache/software-vulkan/ by scripts/software-vulkan.sh (which `.ci/run` calls), or Chromium's
 * copy when Chromium is installed. VAE_TEST_VULKAN_ICD names another driver's ICD file.
 * Returns the environment for a child process, or why the webgpu tests must skip.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = path.join(ROOT, '.cache', 'software-vulkan');

export function softwareVulkan(): { env: NodeJS.ProcessEnv } | { skip: string } {
  if (!fs.existsSync(path.join(ROOT, 'node_modules', 'webgpu', 'package.json'))) return { skip: 'the optional webgpu package is not installed' };
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-webgpu', 'package.json'))) return { skip: 'the optional @tensorflow/tfjs-backend-webgpu is not installed' };
  const icd = [process.env.VAE_TEST_VULKAN_ICD, path.join(CACHE, 'icd.json'), '/usr/lib/chromium/vk_swiftshader_icd.json'].find((f) => f && fs.existsSync(f));
  if (!icd) return { skip: 'no software Vulkan driver: run scripts/software-vulkan.sh (it fetches SwiftShader from Debian)' };
  const hasLoader = fs.existsSync(path.join(CACHE, 'libvulkan.so.1')) || ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')));
  if (!hasLoader) return { skip: 'no Vulkan loader (libvulkan.so.1): run scripts/software-vulkan.sh' };
  const ld = [CACHE, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { env: { VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd, LD_LIBRARY_PATH: ld } };
}

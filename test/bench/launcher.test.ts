import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Launcher } from '../../src/bench/launcher.js';

test('the launcher runs each command to the end and returns its status and output', async () => {
  const launcher = Launcher.start();
  try {
    const ok = await launcher.run(process.execPath, ['-e', 'process.stdout.write("out"); process.stderr.write("err"); process.exit(3)']);
    assert.deepEqual(ok, { status: 3, stdout: 'out', stderr: 'err', error: null });
    // one after another on the same helper
    const pid = await launcher.run(process.execPath, ['-e', 'process.stdout.write(String(process.ppid))']);
    assert.notEqual(Number(pid.stdout), process.pid, 'started by the helper, not by this process');
    const missing = await launcher.run('/nonexistent/python', []);
    assert.equal(missing.status, null);
    assert.match(missing.error ?? '', /ENOENT/);
  } finally {
    launcher.close();
  }
});

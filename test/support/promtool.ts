// Runs Debian's promtool (package `prometheus`) on an exposition; fails loudly when it is not installed.

import { execFile } from 'node:child_process';

export function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('promtool is not installed: run `apt-get install -y prometheus` (Debian) to validate the exposition'));
        return;
      }
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin!.end(text);
  });
}

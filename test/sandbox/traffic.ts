// Traffic helpers for tests that check forwarding between sandbox VMs.
import type { Vm } from './index';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends one line over TCP from `from` to `to`:port with busybox nc and returns what the listener received
 * ('' when nothing arrived within ~5 s).
 */
export async function tcpSend(from: Vm, to: Vm, port: number, line: string): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(line)) throw new Error(`tcpSend: line must be shell-safe, got '${line}'`);
  const listener = to.exec(['timeout', '5', 'busybox', 'nc', '-l', '-p', String(port)]);
  // The listener needs a moment to bind; retry the client on "connection refused".
  for (let attempt = 0; attempt < 30; attempt++) {
    const client = await from.exec(['sh', '-c', `echo ${line} | busybox nc -w 2 ${to.ip} ${port}`]);
    if (client.code === 0) break;
    await sleep(100);
  }
  return (await listener).stdout;
}

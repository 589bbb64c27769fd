// Warms the bench's own gRPC client before it times a first push to a fresh agent.
//
// The timed cold push is meant to show the agent's first push, as an independent client (ghz, a Go
// controller) would see it. The bench's client is Node too, and its first large call is cold: against a
// server already warmed by another process, a fresh process's first 2 MB PushGoalStatesStream took
// 216–314 ms and its third 19–42 ms (2-core VM, load 4–5). Unwarmed, that would be charged to the agent.
// So the bench first pushes the same bytes a few times to this sink, a gRPC server in a child process that
// answers every message with an empty reply: the client's code paths and the connection setup get compiled,
// and the agent sees nothing of it.
import { ChildProcess, fork } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';

const PUSH_PATH = '/alcor.schema.GoalStateProvisioner/PushGoalStatesStream';
const MAX_MESSAGE = 512 * 2 ** 20;

/** Runs in the child: serve raw pushes on an ephemeral loopback port and tell the parent which. */
function serveSink(): void {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE });
  const raw = (b: Buffer): Buffer => b;
  server.addService(
    {
      push: {
        path: PUSH_PATH,
        requestStream: true,
        responseStream: true,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
        originalName: 'push',
      },
    },
    {
      push: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', () => call.write(Buffer.alloc(0)));
        call.on('end', () => call.end());
      },
    },
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err !== null) throw err;
    process.send?.({ port });
  });
  // The parent going away ends the sink too.
  process.on('disconnect', () => process.exit(0));
}

/**
 * Pushes `bytes` `rounds` times through `push` to a sink in a child process, then stops the sink.
 * `push` is the bench's own push function, so exactly the code that is timed afterwards gets warm.
 */
export async function warmPushClient(
  bytes: Uint8Array,
  push: (address: string, bytes: Uint8Array) => Promise<unknown>,
  rounds = 3,
): Promise<void> {
  const child: ChildProcess = fork(__filename, ['--serve-push-sink'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`push sink exited (code ${code}) before it listened`)));
    });
    for (let i = 0; i < rounds; i++) await push(`127.0.0.1:${port}`, bytes);
  } finally {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await gone;
    }
  }
}

if (require.main === module && process.argv.includes('--serve-push-sink')) serveSink();

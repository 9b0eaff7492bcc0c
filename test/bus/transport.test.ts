// The transport contract run against the ZeroMQ adapter (real sockets over loopback TCP).
import { createZmqTransport } from '../../src/bus/index.ts';
import { transportContract } from './transport-contract.ts';

transportContract({
  name: 'zeromq',
  endpoint: 'tcp://127.0.0.1:0',
  make: (directory, onDecision, options = {}) =>
    createZmqTransport({
      keyDirectory: directory,
      onZapDecision: onDecision,
      allowNullMechanism: options.allowNull ?? false,
      refusedRetryMs: 20,
    }),
});

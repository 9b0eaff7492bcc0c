// Public face of the metering context. For now: the meter ↔ MDC protocol only.
export * from './protocol/index.ts';

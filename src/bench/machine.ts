// What the numbers were measured on, including how busy the machine was (other jobs share its cores).
import os from 'node:os';
import { packageVersion } from '../engine/index.js';

export interface MachineInfo {
  cpu: string;
  cores: number; // logical CPUs the process may use
  memoryBytes: number;
  platform: string;
  node: string;
  tfjs: string;
  loadAverage: { start: number[]; end?: number[] }; // 1, 5, 15-minute load averages when the benchmark began and ended
  startedAt: string;
}

export function loadAverage(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tfjs: packageVersion('@tensorflow/tfjs-core'),
    loadAverage: { start: loadAverage() },
    startedAt: new Date().toISOString(),
  };
}

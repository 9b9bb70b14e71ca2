// The tfjs KernelBackend whose tensors live in libtorch: each tfjs dataId maps to a native handle.
import { DataStorage, KernelBackend, engine } from '@tensorflow/tfjs-core';
import type { BackendTimingInfo, DataId, DataType, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import { DTYPE_CODE, DTYPE_OF_CODE } from './addon.js';
import type { Addon, InitInfo } from './addon.js';

/** What the backend stores per dataId: the native handle and tfjs's reference count. */
export interface TorchData {
  id: number;
  refCount: number;
}

export interface TorchMemoryInfo {
  unreliable: boolean;
  reasons?: string[];
  /** Tensors alive in the addon's handle table. */
  numNativeTensors: number;
  /** Bytes of the distinct storages those tensors hold (views share storage). */
  numNativeBytes: number;
}

export function dtypeCode(dtype: DataType): number {
  const code = (DTYPE_CODE as Record<string, number>)[dtype];
  if (code === undefined) throw new Error(`tfjs-backend-torch: dtype '${dtype}' is not supported (float32, int32, bool only)`);
  return code;
}

export class TorchBackend extends KernelBackend {
  readonly addon: Addon;
  readonly data: DataStorage<TorchData>;
  readonly info: InitInfo;
  private readonly meta: Int32Array;

  constructor(addon: Addon, info: InitInfo) {
    super();
    this.addon = addon;
    this.info = info;
    this.meta = addon.meta;
    this.data = new DataStorage(this, engine());
  }

  /** Native handle of a tensor (moves it here first if it lives on another backend). */
  handle(t: TensorInfo): number {
    return this.data.get(t.dataId).id;
  }

  /** Wraps the handle an op just returned; dtype and shape come from the addon's shared meta buffer. */
  out(id: number): TensorInfo {
    const meta = this.meta;
    const rank = meta[1];
    const shape = new Array<number>(rank);
    for (let i = 0; i < rank; i++) shape[i] = meta[2 + i];
    const dataId = {};
    this.data.set(dataId, { id, refCount: 1 });
    return { dataId, shape, dtype: DTYPE_OF_CODE[meta[0]] };
  }

  /** Like out() for ops with several results (the meta buffer only describes the last one). */
  outs(ids: number[]): TensorInfo[] {
    return ids.map((id) => {
      this.addon.Meta(id);
      return this.out(id);
    });
  }

  /** The same data under another TensorInfo (tfjs's Identity): shares the handle, bumps the count. */
  identity(x: TensorInfo): TensorInfo {
    this.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  }

  private upload(values: backend_util.BackendValues, shape: number[], dtype: DataType): number {
    if (Array.isArray(values)) throw new Error(`tfjs-backend-torch: string tensors are not supported`);
    return this.addon.Write(values as Float32Array | Int32Array | Uint8Array, shape, dtypeCode(dtype));
  }

  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount: 1 });
    return dataId;
  }

  makeTensorInfo(shape: number[], dtype: DataType, values?: backend_util.BackendValues): TensorInfo {
    const dataId = {};
    const id = values === undefined ? this.addon.Fill(shape, 0, dtypeCode(dtype)) : this.upload(values, shape, dtype);
    this.data.set(dataId, { id, refCount: 1 });
    return { dataId, shape, dtype };
  }

  override move(dataId: DataId, values: backend_util.BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount });
  }

  override refCount(dataId: DataId): number {
    return this.data.has(dataId) ? this.data.get(dataId).refCount : 0;
  }

  override incRef(dataId: DataId): void {
    this.data.get(dataId).refCount++;
  }

  decRef(dataId: DataId): void {
    if (this.data.has(dataId)) this.data.get(dataId).refCount--;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  override async read(dataId: DataId): Promise<backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override readSync(dataId: DataId): backend_util.BackendValues {
    return this.addon.Read(this.data.get(dataId).id);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const entry = this.data.get(dataId);
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    this.addon.Free(entry.id);
    this.data.delete(dataId);
    return true;
  }

  disposeIntermediateTensorInfo(t: TensorInfo): void {
    this.disposeData(t.dataId);
  }

  override memory(): TorchMemoryInfo {
    const [numNativeTensors, numNativeBytes] = this.addon.Stats();
    return { unreliable: false, numNativeTensors, numNativeBytes };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override async time(f: () => void): Promise<BackendTimingInfo> {
    this.addon.Sync();
    const start = performance.now();
    f();
    this.addon.Sync();
    return { kernelMs: performance.now() - start };
  }

  override floatPrecision(): 16 | 32 {
    return 32;
  }

  override epsilon(): number {
    return super.epsilon();
  }

  override dispose(): void {
    // Handles are freed as tfjs disposes tensors; nothing else is held.
  }
}

// tfjs-core's Node bundle registers no gradients and no chained ops; the union package's Node bundle registers both.
import '@tensorflow/tfjs';

// ---------------------------------------------------------------- int8 activations
// Each 32-block of x becomes two int8 vectors: hi = round(x/d) with d = amax/127, and
// lo = round((x - d*hi) / (d/254)), the rounding residual at 254x finer scale, so that
// x ~= d * (hi + lo/254) to ~15 bits: the dp4a kernel keeps float32-level accuracy.
// xq holds hi[0..n) then lo[0..n); xs[b] = (d, exact float sum of the 32 inputs).
// has_norm: quantize rmsnorm(x) * nw instead of x (each warp computes 1/rms(x) itself).
extern "C" __global__ void quantize_q8_32(const float* __restrict__ x, signed char* __restrict__ xq,
                                          float2* __restrict__ xs, int n, const float* __restrict__ nw,
                                          float eps, int has_norm) {
    const int warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
    const int lane = threadIdx.x & 31;
    if (warp * 32 >= n) return;
    float v = x[warp * 32 + lane];
    if (has_norm) v *= rsqrtf(warp_sumsq(x, n) / (float)n + eps) * nw[warp * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float s = warp_sum(v);
    const float d = amax / 127.f;
    const float id = d > 0.f ? 1.f / d : 0.f;
    const int hi = __float2int_rn(v * id);
    const int lo = __float2int_rn((v - d * (float)hi) * id * 254.f);
    xq[warp * 32 + lane] = (signed char)hi;
    xq[n + warp * 32 + lane] = (signed char)max(-127, min(127, lo));
    if (lane == 0) xs[warp] = make_float2(d, s);
}


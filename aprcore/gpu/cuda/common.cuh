// Shared by every kernel file: prepended to each one before NVRTC compiles it.
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float dot4(float4 a, float4 b) {
    return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}

// sum of squares of x [n], by one warp (every lane gets it)
__device__ __forceinline__ float warp_sumsq(const float* __restrict__ x, int n) {
    const int lane = threadIdx.x & 31;
    float ss = 0.f;
    if ((n & 3) == 0) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int i = lane; i < (n >> 2); i += 32) { const float4 v = x4[i]; ss += dot4(v, v); }
    } else {
        for (int i = lane; i < n; i += 32) { const float v = x[i]; ss += v * v; }
    }
    return warp_sum(ss);
}

__device__ __forceinline__ float half_bits_to_float(unsigned int h) {
    unsigned short hs = (unsigned short)(h & 0xffffu);
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(hs));
    return f;
}

#ifndef GQA
#define GQA 1
#endif
#ifndef HD
#define HD 128
#endif
// ---------------------------------------------------------------- GQA decode attention
// Compile-time GQA (query heads per KV head) and HD (head dim, a power of two 4..256).
#define V4 (HD / 4)                    // float4 per row
#define LPP (V4 < 32 ? V4 : 32)        // lanes per position
#define PPW (32 / LPP)                 // positions per warp step
#define F4L (V4 / LPP)                 // float4 per lane per row
#define UNR 4                          // positions in flight per lane

__device__ __forceinline__ float group_sum(float v) {
    #pragma unroll
    for (int o = LPP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The register variant: chunk == 4 warps * PPW * RUNR positions, so every lane loads all
// its K and V rows at the start (one DRAM round trip instead of one per loop step) and
// keeps them in registers through the softmax. Same outputs as attn_decode_partial.
#define RUNR 8
extern "C" __global__ void __launch_bounds__(128)
attn_decode_partial_reg(const float* __restrict__ q, const float* __restrict__ kc,
                        const float* __restrict__ vc, const int* __restrict__ tokpos,
                        float* __restrict__ opart, float2* __restrict__ ml, int max_t, float scale) {
    const int chunk = 4 * PPW * RUNR;
    __shared__ float s[GQA * 4 * PPW * RUNR];
    __shared__ float4 red4[4 * GQA * V4];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kvh = blockIdx.y, c = blockIdx.x, nkv = gridDim.y;
    const int nh = nkv * GQA;
    const int T = tokpos[1] + 1;
    const int p0 = c * chunk;
    const int n = min(chunk, T - p0);
    if (n <= 0) {
        for (int g = threadIdx.x; g < GQA; g += blockDim.x)
            ml[(size_t)c * nh + kvh * GQA + g] = make_float2(NEG_INF, 0.f);
        return;
    }
    const int sub = lane / LPP, sl = lane % LPP;
    const float4* K = reinterpret_cast<const float4*>(kc + ((size_t)kvh * max_t + p0) * HD);
    const float4* V = reinterpret_cast<const float4*>(vc + ((size_t)kvh * max_t + p0) * HD);
    const int step = 4 * PPW;
    float4 kr[RUNR][F4L], vr[RUNR][F4L];
    #pragma unroll
    for (int u = 0; u < RUNR; ++u) {
        const int p = u * step + warp * PPW + sub;
        #pragma unroll
        for (int f = 0; f < F4L; ++f) {
            const bool in = p < n;
            kr[u][f] = in ? __ldg(K + (size_t)p * V4 + sl + f * LPP) : make_float4(0.f, 0.f, 0.f, 0.f);
            vr[u][f] = in ? __ldg(V + (size_t)p * V4 + sl + f * LPP) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    }
    float4 qr[GQA][F4L];
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f)
            qr[g][f] = reinterpret_cast<const float4*>(q + (size_t)(kvh * GQA + g) * HD)[sl + f * LPP];
    #pragma unroll
    for (int u = 0; u < RUNR; ++u) {
        const int p = u * step + warp * PPW + sub;
        #pragma unroll
        for (int g = 0; g < GQA; ++g) {
            float a = 0.f;
            #pragma unroll
            for (int f = 0; f < F4L; ++f) a += dot4(qr[g][f], kr[u][f]);
            a = group_sum(a);
            if (p < n && sl == 0) s[g * chunk + p] = a * scale;
        }
    }
    __syncthreads();
    for (int g = warp; g < GQA; g += 4) {
        float m = NEG_INF;
        for (int p = lane; p < n; p += 32) m = fmaxf(m, s[g * chunk + p]);
        m = warp_max(m);
        float l = 0.f;
        for (int p = lane; p < n; p += 32) {
            const float e = expf(s[g * chunk + p] - m);
            s[g * chunk + p] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) ml[(size_t)c * nh + kvh * GQA + g] = make_float2(m, l);
    }
    __syncthreads();
    float4 acc[GQA][F4L];
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f) acc[g][f] = make_float4(0.f, 0.f, 0.f, 0.f);
    #pragma unroll
    for (int u = 0; u < RUNR; ++u) {
        const int p = u * step + warp * PPW + sub;
        if (p < n) {
            #pragma unroll
            for (int g = 0; g < GQA; ++g) {
                const float e = s[g * chunk + p];
                #pragma unroll
                for (int f = 0; f < F4L; ++f) {
                    acc[g][f].x += e * vr[u][f].x;
                    acc[g][f].y += e * vr[u][f].y;
                    acc[g][f].z += e * vr[u][f].z;
                    acc[g][f].w += e * vr[u][f].w;
                }
            }
        }
    }
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f) {
            #pragma unroll
            for (int o = 16; o >= LPP; o >>= 1) {
                acc[g][f].x += __shfl_xor_sync(0xffffffffu, acc[g][f].x, o);
                acc[g][f].y += __shfl_xor_sync(0xffffffffu, acc[g][f].y, o);
                acc[g][f].z += __shfl_xor_sync(0xffffffffu, acc[g][f].z, o);
                acc[g][f].w += __shfl_xor_sync(0xffffffffu, acc[g][f].w, o);
            }
        }
    if (sub == 0) {
        #pragma unroll
        for (int g = 0; g < GQA; ++g)
            #pragma unroll
            for (int f = 0; f < F4L; ++f) red4[(warp * GQA + g) * V4 + sl + f * LPP] = acc[g][f];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < GQA * V4; i += blockDim.x) {
        float4 v = red4[i];
        #pragma unroll
        for (int w = 1; w < 4; ++w) {
            const float4 o = red4[w * GQA * V4 + i];
            v.x += o.x; v.y += o.y; v.z += o.z; v.w += o.w;
        }
        reinterpret_cast<float4*>(opart + ((size_t)c * nh + kvh * GQA) * HD)[i] = v;
    }
}

// grid (n_chunks, nkv), block NW*32 threads, dynamic smem: s[GQA][chunk] + red[NW][GQA][HD]
// q: [nkv*GQA, HD]; caches [nkv, max_t, HD]; T = tokpos[1] + 1 valid positions.
// Writes per (chunk, head): opart [n_chunks, nh, HD] (unnormalized), ml [n_chunks, nh] (max, sum).
extern "C" __global__ void attn_decode_partial(const float* __restrict__ q, const float* __restrict__ kc,
                                               const float* __restrict__ vc,
                                               const int* __restrict__ tokpos, float* __restrict__ opart,
                                               float2* __restrict__ ml, int max_t, int chunk, float scale) {
    extern __shared__ float smem[];
    const int nw = blockDim.x >> 5;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kvh = blockIdx.y, c = blockIdx.x, nkv = gridDim.y;
    const int nh = nkv * GQA;
    const int T = tokpos[1] + 1;
    const int p0 = c * chunk;
    const int n = min(chunk, T - p0);
    float* s = smem;                       // [GQA][chunk]
    float* red = smem + GQA * chunk;       // [nw][GQA][HD]
    if (n <= 0) {                          // chunk past the cache's end: an empty partial
        for (int g = threadIdx.x; g < GQA; g += blockDim.x)
            ml[(size_t)c * nh + kvh * GQA + g] = make_float2(NEG_INF, 0.f);
        return;
    }
    const int sub = lane / LPP, sl = lane % LPP;
    const float4* K = reinterpret_cast<const float4*>(kc + ((size_t)kvh * max_t + p0) * HD);
    const float4* V = reinterpret_cast<const float4*>(vc + ((size_t)kvh * max_t + p0) * HD);
    // this lane's slice of each query head of the group
    float4 qr[GQA][F4L];
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f)
            qr[g][f] = reinterpret_cast<const float4*>(q + (size_t)(kvh * GQA + g) * HD)[sl + f * LPP];
    // 1. scores
    const int step = nw * PPW;
    for (int base = warp * PPW; base < n; base += step * UNR) {
        float4 kr[UNR][F4L];
        #pragma unroll
        for (int u = 0; u < UNR; ++u) {
            const int p = base + u * step + sub;
            #pragma unroll
            for (int f = 0; f < F4L; ++f)
                kr[u][f] = p < n ? __ldg(K + (size_t)p * V4 + sl + f * LPP) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        #pragma unroll
        for (int u = 0; u < UNR; ++u) {
            const int p = base + u * step + sub;
            #pragma unroll
            for (int g = 0; g < GQA; ++g) {
                float a = 0.f;
                #pragma unroll
                for (int f = 0; f < F4L; ++f) a += dot4(qr[g][f], kr[u][f]);
                a = group_sum(a);
                if (p < n && sl == 0) s[g * chunk + p] = a * scale;
            }
        }
    }
    __syncthreads();
    // 2. chunk-local softmax numerators, (max, sum) per head
    for (int g = warp; g < GQA; g += nw) {
        float m = NEG_INF;
        for (int p = lane; p < n; p += 32) m = fmaxf(m, s[g * chunk + p]);
        m = warp_max(m);
        float l = 0.f;
        for (int p = lane; p < n; p += 32) {
            const float e = expf(s[g * chunk + p] - m);
            s[g * chunk + p] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) ml[(size_t)c * nh + kvh * GQA + g] = make_float2(m, l);
    }
    __syncthreads();
    // 3. weighted sum of V rows
    float4 acc[GQA][F4L];
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f) acc[g][f] = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int base = warp * PPW; base < n; base += step * UNR) {
        float4 vr[UNR][F4L];
        #pragma unroll
        for (int u = 0; u < UNR; ++u) {
            const int p = base + u * step + sub;
            #pragma unroll
            for (int f = 0; f < F4L; ++f)
                vr[u][f] = p < n ? __ldg(V + (size_t)p * V4 + sl + f * LPP) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        #pragma unroll
        for (int u = 0; u < UNR; ++u) {
            const int p = base + u * step + sub;
            if (p < n) {
                #pragma unroll
                for (int g = 0; g < GQA; ++g) {
                    const float e = s[g * chunk + p];
                    #pragma unroll
                    for (int f = 0; f < F4L; ++f) {
                        acc[g][f].x += e * vr[u][f].x;
                        acc[g][f].y += e * vr[u][f].y;
                        acc[g][f].z += e * vr[u][f].z;
                        acc[g][f].w += e * vr[u][f].w;
                    }
                }
            }
        }
    }
    // reduce over the PPW position groups of the warp, then over warps through smem
    #pragma unroll
    for (int g = 0; g < GQA; ++g)
        #pragma unroll
        for (int f = 0; f < F4L; ++f) {
            #pragma unroll
            for (int o = 16; o >= LPP; o >>= 1) {
                acc[g][f].x += __shfl_xor_sync(0xffffffffu, acc[g][f].x, o);
                acc[g][f].y += __shfl_xor_sync(0xffffffffu, acc[g][f].y, o);
                acc[g][f].z += __shfl_xor_sync(0xffffffffu, acc[g][f].z, o);
                acc[g][f].w += __shfl_xor_sync(0xffffffffu, acc[g][f].w, o);
            }
        }
    if (sub == 0) {
        #pragma unroll
        for (int g = 0; g < GQA; ++g)
            #pragma unroll
            for (int f = 0; f < F4L; ++f)
                reinterpret_cast<float4*>(red + ((size_t)warp * GQA + g) * HD)[sl + f * LPP] = acc[g][f];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < GQA * HD; i += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < nw; ++w) v += red[(size_t)w * GQA * HD + i];
        opart[((size_t)c * nh + kvh * GQA) * HD + i] = v;
    }
}

__device__ __forceinline__ float block_reduce(float v, float* sh, bool is_max) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = is_max ? warp_max(v) : warp_sum(v);
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < nw ? sh[lane] : (is_max ? NEG_INF : 0.f);
        v = is_max ? warp_max(v) : warp_sum(v);
        if (lane == 0) sh[0] = v;
    }
    __syncthreads();
    const float r = sh[0];
    __syncthreads();
    return r;
}

// grid nh, block 1024: out[h] = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c.
// Dynamic smem: wts[maxc] (maxc a multiple of 4) then red[4 * blockDim.x].
// Threads split the chunks (groups) and the float4 columns, so no thread walks all chunks.
extern "C" __global__ void attn_decode_combine(const float* __restrict__ opart,
                                               const float2* __restrict__ ml,
                                               const int* __restrict__ tokpos, float* __restrict__ out,
                                               int nh, int chunk, int maxc) {
    extern __shared__ float sm[];
    __shared__ float sh[32];
    float* wts = sm;
    float* red = sm + maxc;
    const int h = blockIdx.x, tid = threadIdx.x, nt = blockDim.x;
    const int T = tokpos[1] + 1;
    const int nc = (T + chunk - 1) / chunk;
    float m = NEG_INF;
    for (int c = tid; c < nc; c += nt) m = fmaxf(m, ml[(size_t)c * nh + h].x);
    const float M = block_reduce(m, sh, true);
    float dsum = 0.f;
    for (int c = tid; c < nc; c += nt) {
        const float2 v = ml[(size_t)c * nh + h];
        const float w = expf(v.x - M);
        wts[c] = w;
        dsum += w * v.y;
    }
    const float den = block_reduce(dsum, sh, false);   // its barriers also publish wts
    const int c4 = V4;                 // float4 columns of a row
    const int groups = nt / c4;
    const int col = tid % c4, grp = tid / c4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (grp < groups) {
        #pragma unroll 4
        for (int c = grp; c < nc; c += groups) {
            const float w = wts[c];
            const float4 v = reinterpret_cast<const float4*>(opart + ((size_t)c * nh + h) * HD)[col];
            acc.x += w * v.x; acc.y += w * v.y; acc.z += w * v.z; acc.w += w * v.w;
        }
        reinterpret_cast<float4*>(red + (size_t)grp * HD)[col] = acc;
    }
    __syncthreads();
    for (int d = tid; d < HD; d += nt) {
        float v = 0.f;
        for (int g2 = 0; g2 < groups; ++g2) v += red[(size_t)g2 * HD + d];
        out[(size_t)h * HD + d] = v / den;
    }
}
// ---------------------------------------------------------------- GQA decode attention, fused
// One launch: each block takes one KV head's chunk of AW*PW positions and writes its
// (max, sum, unnormalized output) for the GQA query heads of that KV head; the last block
// of a KV head to finish (an atomic counter, reset by that block for the next launch)
// merges the chunks, a warp per query head with a batch of partial rows loaded at once.
// K is read 8 lanes per position (3 shuffles per score instead of 5 for 32 lanes, 4
// positions per warp step), V a row per warp step with each lane owning its float4
// columns, so the weighted sum needs no shuffles. Every K and V load of a block is issued
// before the first use; K first, so the scores start while V arrives.
#ifndef AW
#define AW 8
#endif
#ifndef RKMAX
#define RKMAX 8
#endif
#define LPK (V4 < 8 ? V4 : 8)           // lanes per K row
#define PPK (32 / LPK)                  // K rows per warp step
#define F4K (V4 / LPK)                  // float4 per lane per K row
#define LPV (V4 < 32 ? V4 : 32)         // lanes per V row
#define PPV (32 / LPV)
#define F4V (V4 / LPV)
#define RK_A ((16 / F4K) < RKMAX ? (16 / F4K) : RKMAX)   // K steps per warp (<= 16 float4 of K per lane)
#define RK (RK_A * PPK > 64 ? 64 / PPK : RK_A)            // at most 64 positions per warp
#define PW (PPK * RK)                   // positions per warp
#define RV (PW / PPV)                   // V steps per warp
#define FCHUNK (AW * PW)
#define F4M ((V4 + 31) / 32)            // float4 columns per lane in the merge
#define MB ((AW >= 16 ? 16 : 32) / F4M) // partial rows per merge batch

__device__ __forceinline__ float k_group_sum(float v) {
    #pragma unroll
    for (int o = LPK / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Which cache rows a block reads. Contiguous: block c owns rows [c*chunk, (c+1)*chunk).
// STRIDE4: the rows come in groups of 4 dealt round-robin over the blocks (local position p
// of block c is row ((p/4)*nblocks + c)*4 + p%4), so at any moment the blocks of a KV head
// stream through one contiguous stretch of the cache (DRAM locality of a grid-stride read)
// instead of 32 separate 64 KB stretches. A block's valid rows are still a prefix of its
// local positions, and the blocks holding any are the first min(nblocks, ceil(T/4)).
__device__ __forceinline__ int s4_count(int T, int c, int nch, int cap) {
    const int r = T - 4 * c;
    if (r <= 0) return 0;
    const int G = (r + 4 * nch - 1) / (4 * nch);
    if (G > cap / 4) return cap;
    return (G - 1) * 4 + min(4, r - (G - 1) * 4 * nch);
}
#define ATTN_N(T, p0, CH) s4_count(T, (int)blockIdx.x, (int)gridDim.x, CH)
#define ATTN_P0(p0) 0
#define ATTN_ROW(p) (((((p) >> 2) * (int)gridDim.x + (int)blockIdx.x) << 2) + ((p) & 3))
#define ATTN_NC(T, CH) min((int)gridDim.x, ((T) + 3) / 4)

extern "C" __global__ void __launch_bounds__(AW * 32)
attn_decode_fused(const float* __restrict__ q, const float* __restrict__ kc, const float* __restrict__ vc,
                  const int* __restrict__ tokpos, float* __restrict__ opart, float2* __restrict__ ml,
                  int* __restrict__ counter, float* __restrict__ out, int max_t, float scale) {
    __shared__ float s[GQA * FCHUNK];
    __shared__ float4 red[(AW / 2) * GQA * V4];   // weighted V sums of half the warps, then of all
    __shared__ int last;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kvh = blockIdx.y, c = blockIdx.x, nkv = gridDim.y;
    const int nh = nkv * GQA;
    const int T = tokpos[1] + 1;
    const int p0 = c * FCHUNK;
    const int n = ATTN_N(T, p0, FCHUNK);
    const float4 z4 = make_float4(0.f, 0.f, 0.f, 0.f);
    if (n > 0) {
        const int wp = warp * PW;                     // this warp's first position in the chunk
        const int ks_ = lane / LPK, kl = lane % LPK;
        const int vs = lane / LPV, vl = lane % LPV;
        const float4* K = reinterpret_cast<const float4*>(kc + ((size_t)kvh * max_t + ATTN_P0(p0)) * HD);
        const float4* V = reinterpret_cast<const float4*>(vc + ((size_t)kvh * max_t + ATTN_P0(p0)) * HD);
        float4 kr[RK][F4K], vr[RV][F4V];
        #pragma unroll
        for (int u = 0; u < RK; ++u) {
            const int p = wp + u * PPK + ks_;
            #pragma unroll
            for (int f = 0; f < F4K; ++f) kr[u][f] = p < n ? __ldg(K + (size_t)ATTN_ROW(p) * V4 + kl + f * LPK) : z4;
        }
        #pragma unroll
        for (int u = 0; u < RV; ++u) {
            const int p = wp + u * PPV + vs;
            #pragma unroll
            for (int f = 0; f < F4V; ++f) vr[u][f] = p < n ? __ldg(V + (size_t)ATTN_ROW(p) * V4 + vl + f * LPV) : z4;
        }
        // 1. scores, one query head at a time (its slice of q in registers)
        #pragma unroll
        for (int g = 0; g < GQA; ++g) {
            float4 qr[F4K];
            #pragma unroll
            for (int f = 0; f < F4K; ++f)
                qr[f] = reinterpret_cast<const float4*>(q + (size_t)(kvh * GQA + g) * HD)[kl + f * LPK];
            #pragma unroll
            for (int u = 0; u < RK; ++u) {
                const int p = wp + u * PPK + ks_;
                float a = 0.f;
                #pragma unroll
                for (int f = 0; f < F4K; ++f) a += dot4(qr[f], kr[u][f]);
                a = k_group_sum(a);
                if (p < n && kl == 0) s[g * FCHUNK + p] = a * scale;
            }
        }
        __syncthreads();
        // 2. chunk-local softmax numerators, (max, sum) per head
        for (int g = warp; g < GQA; g += AW) {
            float m = NEG_INF;
            for (int p = lane; p < n; p += 32) m = fmaxf(m, s[g * FCHUNK + p]);
            m = warp_max(m);
            float l = 0.f;
            for (int p = lane; p < n; p += 32) {
                const float e = expf(s[g * FCHUNK + p] - m);
                s[g * FCHUNK + p] = e;
                l += e;
            }
            l = warp_sum(l);
            if (lane == 0) ml[(size_t)c * nh + kvh * GQA + g] = make_float2(m, l);
        }
        __syncthreads();
        // 3. weighted sum of V rows: lanes own columns, the warp walks its positions
        float4 acc[GQA][F4V];
        #pragma unroll
        for (int g = 0; g < GQA; ++g)
            #pragma unroll
            for (int f = 0; f < F4V; ++f) acc[g][f] = z4;
        #pragma unroll
        for (int u = 0; u < RV; ++u) {
            const int p = wp + u * PPV + vs;
            #pragma unroll
            for (int g = 0; g < GQA; ++g) {
                const float e = p < n ? s[g * FCHUNK + p] : 0.f;
                #pragma unroll
                for (int f = 0; f < F4V; ++f) {
                    acc[g][f].x += e * vr[u][f].x; acc[g][f].y += e * vr[u][f].y;
                    acc[g][f].z += e * vr[u][f].z; acc[g][f].w += e * vr[u][f].w;
                }
            }
        }
        #pragma unroll
        for (int g = 0; g < GQA; ++g)
            #pragma unroll
            for (int f = 0; f < F4V; ++f)
                #pragma unroll
                for (int o = 16; o >= LPV; o >>= 1) {
                    acc[g][f].x += __shfl_xor_sync(0xffffffffu, acc[g][f].x, o);
                    acc[g][f].y += __shfl_xor_sync(0xffffffffu, acc[g][f].y, o);
                    acc[g][f].z += __shfl_xor_sync(0xffffffffu, acc[g][f].z, o);
                    acc[g][f].w += __shfl_xor_sync(0xffffffffu, acc[g][f].w, o);
                }
        // the upper half of the warps parks its sums, the lower half adds its own, then all
        // AW/2 rows are added up
        const int hw = warp % (AW / 2);
        if (warp >= AW / 2 && vs == 0) {
            #pragma unroll
            for (int g = 0; g < GQA; ++g)
                #pragma unroll
                for (int f = 0; f < F4V; ++f) red[(hw * GQA + g) * V4 + vl + f * LPV] = acc[g][f];
        }
        __syncthreads();
        if (warp < AW / 2 && vs == 0) {
            #pragma unroll
            for (int g = 0; g < GQA; ++g)
                #pragma unroll
                for (int f = 0; f < F4V; ++f) {
                    float4& r = red[(hw * GQA + g) * V4 + vl + f * LPV];
                    const float4 o = r;
                    r = make_float4(o.x + acc[g][f].x, o.y + acc[g][f].y, o.z + acc[g][f].z, o.w + acc[g][f].w);
                }
        }
        __syncthreads();
        for (int i = threadIdx.x; i < GQA * V4; i += blockDim.x) {
            float4 v = red[i];
            #pragma unroll
            for (int w = 1; w < AW / 2; ++w) {
                const float4 o = red[w * GQA * V4 + i];
                v.x += o.x; v.y += o.y; v.z += o.z; v.w += o.w;
            }
            reinterpret_cast<float4*>(opart + ((size_t)c * nh + kvh * GQA) * HD)[i] = v;
        }
    }
    // 4. the last block of this KV head merges the chunks
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(counter + kvh, 1) == (int)gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    const int nc = ATTN_NC(T, FCHUNK);
    for (int g = warp; g < GQA; g += AW) {            // a warp per query head
        const int h = kvh * GQA + g;
        const float4* op = reinterpret_cast<const float4*>(opart) + (size_t)h * V4;
        float m = NEG_INF;
        float2 mine = make_float2(NEG_INF, 0.f);
        if (nc <= MB) {                               // one batch: this lane's chunk stats kept
            if (lane < nc) mine = __ldcg(&ml[(size_t)lane * nh + h]);
            m = mine.x;
        } else {
            for (int cc = lane; cc < nc; cc += 32) m = fmaxf(m, __ldcg(&ml[(size_t)cc * nh + h]).x);
        }
        m = warp_max(m);
        float4 a[F4M];
        #pragma unroll
        for (int f = 0; f < F4M; ++f) a[f] = z4;
        float dsum = 0.f;
        for (int c0 = 0; c0 < nc; c0 += MB) {
            float4 v[MB][F4M];
            #pragma unroll
            for (int k = 0; k < MB; ++k)
                #pragma unroll
                for (int f = 0; f < F4M; ++f) {
                    const int col = lane + 32 * f;
                    v[k][f] = (c0 + k < nc && col < V4) ? __ldcg(op + (size_t)(c0 + k) * nh * V4 + col) : z4;
                }
            float2 t = mine;
            if (nc > MB) t = (lane < MB && c0 + lane < nc) ? __ldcg(&ml[(size_t)(c0 + lane) * nh + h])
                                                          : make_float2(NEG_INF, 0.f);
            const float w = (lane < MB && c0 + lane < nc) ? expf(t.x - m) : 0.f;
            dsum += w * t.y;
            #pragma unroll
            for (int k = 0; k < MB; ++k) {
                const float wk = __shfl_sync(0xffffffffu, w, k);
                #pragma unroll
                for (int f = 0; f < F4M; ++f) {
                    a[f].x += wk * v[k][f].x; a[f].y += wk * v[k][f].y;
                    a[f].z += wk * v[k][f].z; a[f].w += wk * v[k][f].w;
                }
            }
        }
        const float r = 1.f / warp_sum(dsum);
        #pragma unroll
        for (int f = 0; f < F4M; ++f) {
            const int col = lane + 32 * f;
            if (col < V4)
                reinterpret_cast<float4*>(out + (size_t)h * HD)[col] =
                    make_float4(a[f].x * r, a[f].y * r, a[f].z * r, a[f].w * r);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) counter[kvh] = 0;          // ready for the next launch
}


// Product-table ("LUT") convolution and matrix product on 8-bit codes for TensorFlow (CPU).
//
// out[m, n] = sum_k lut[a[m, k], w[k, n]]  (exact integer sums), with convolutions mapped onto
// the same kernel: a row m is one output pixel, k runs over the (kh, kw, cin) taps in HWIO order.
// lut is [256, 2^N]: 8-bit activation codes a, N-bit weight codes w (N = 2..8).
//
// Speed: the weights are fixed for one call, so the kernel first gathers a table
//   T[k][a][n] = lut[a, w[k, n]]   (uint16 or int16, n padded to a multiple of 16)
// (with 16-bit permutes on AVX-512, 16 x 16 transposes on AVX2) and then, for every (m, k),
// adds the contiguous row T[k][a[m, k]][:] into int32 accumulators held in registers. Rows m
// are tiled (a tile's accumulators and one k-block of T share L2, so each block is fetched once
// per tile; the next block is prefetched while one is used) and tiles are spread over
// TensorFlow's intra-op thread pool. The hot loops are compiled three times (AVX-512, AVX2,
// generic) through function target attributes and chosen at run time from the CPU's features,
// so the shared library is safe to cache on any x86-64 machine.
//
// Ops: EvoLutConv2D (integer sums), EvoLutConv2DDequant (sums centred on zero points and
// scaled to float, offsets computed exactly from code sums), EvoLutDepthwiseConv2D, and
// EvoQuantizeCodes (float -> 8-bit codes in one pass).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define EVO_X86 1
#include <immintrin.h>
#endif

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

using namespace tensorflow;  // NOLINT

namespace {

constexpr int kLanes = 16;             // n is padded to a multiple of this
constexpr int64_t kBlockBytes = 384 * 1024;  // L2 budget for one k-block of T
constexpr int64_t kTileBytes = 192 * 1024;   // L2 budget for one tile of int32 accumulators

Status PadShape(shape_inference::InferenceContext* c, bool depthwise) {
  shape_inference::ShapeHandle x, w;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 4, &w));
  std::vector<int32> strides, pads;
  TF_RETURN_IF_ERROR(c->GetAttr("strides", &strides));
  TF_RETURN_IF_ERROR(c->GetAttr("pads", &pads));
  auto out_dim = [&](int xd, int wd, int s, int p0, int p1) -> shape_inference::DimensionHandle {
    auto in = c->Dim(x, xd);
    auto k = c->Dim(w, wd);
    if (!c->ValueKnown(in) || !c->ValueKnown(k)) return c->UnknownDim();
    int64_t v = (c->Value(in) + p0 + p1 - c->Value(k)) / s + 1;
    return c->MakeDim(v);
  };
  auto ho = out_dim(1, 0, strides[0], pads[0], pads[1]);
  auto wo = out_dim(2, 1, strides[1], pads[2], pads[3]);
  shape_inference::DimensionHandle n;
  if (depthwise) {
    TF_RETURN_IF_ERROR(c->Multiply(c->Dim(w, 2), c->Dim(w, 3), &n));
  } else {
    n = c->Dim(w, 3);
  }
  c->set_output(0, c->MakeShape({c->Dim(x, 0), ho, wo, n}));
  return OkStatus();
}

}  // namespace

REGISTER_OP("EvoLutConv2D")
    .Input("x: uint8")
    .Input("w: uint8")
    .Input("lut: int32")
    .Input("pad_code: int32")
    .Attr("strides: list(int)")
    .Attr("pads: list(int)")
    .Attr("out_type: {int32, int64}")
    .Output("y: out_type")
    .SetShapeFn([](shape_inference::InferenceContext* c) { return PadShape(c, false); });

// Same sums, centred on zero points and scaled: y = scale * sum_k (lut[a, w] - w_zero * a
// - pad_code * w + pad_code * w_zero) + bias[n], where pad_code is the activation zero point;
// w_zero and scale are scalars (per-tensor weights) or one per output channel n.
REGISTER_OP("EvoLutConv2DDequant")
    .Input("x: uint8")
    .Input("w: uint8")
    .Input("lut: int32")
    .Input("pad_code: int32")
    .Input("w_zero: int32")
    .Input("scale: float")
    .Input("bias: float")
    .Attr("strides: list(int)")
    .Attr("pads: list(int)")
    .Output("y: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) { return PadShape(c, false); });

// 8-bit codes of real values: clip(round_half_even(x / scale) + zero_point, lo, hi) as the
// code's byte (two's complement when signed); the same arithmetic as quant.quantize.
REGISTER_OP("EvoQuantizeCodes")
    .Input("x: float")
    .Input("scale: float")
    .Input("zero_point: float")
    .Attr("is_signed: bool")
    .Output("codes: uint8")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return OkStatus();
    });

REGISTER_OP("EvoLutDepthwiseConv2D")
    .Input("x: uint8")
    .Input("w: uint8")
    .Input("lut: int32")
    .Input("pad_code: int32")
    .Attr("strides: list(int)")
    .Attr("pads: list(int)")
    .Attr("out_type: {int32, int64}")
    .Output("y: out_type")
    .SetShapeFn([](shape_inference::InferenceContext* c) { return PadShape(c, true); });

namespace {

// ---------------------------------------------------------------- hot loop (three builds)
// acc[0..np) += sum over i < count of rows[i][0..np), rows of uint16 or int16, acc int32.
// Columns are processed in chunks whose accumulators stay in vector registers while the rows
// stream by.
#ifdef EVO_X86
#define EVO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define EVO_AVX2 __attribute__((target("avx2,fma")))

// A run of consecutive k inside one tap: rows T[k][codes[i]] for k = k_start + i.
struct Segment {
  const uint16_t* t;      // T + k_start * 256 * np
  const uint8_t* codes;   // the activation codes of these k
  int64_t count;
};

template <bool kSigned, int V>
EVO_AVX512 static inline void ChunkAvx512(const Segment* segs, int nseg, int64_t np, int n0,
                                          int32_t* acc) {
  __m512i r[V];
  for (int v = 0; v < V; ++v) r[v] = _mm512_loadu_si512(acc + n0 + 16 * v);
  for (int s = 0; s < nseg; ++s) {
    const uint16_t* t = segs[s].t + n0;
    const uint8_t* codes = segs[s].codes;
    for (int64_t i = 0; i < segs[s].count; ++i, t += 256 * np) {
      const uint16_t* row = t + codes[i] * np;
      for (int v = 0; v < V; ++v) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * v));
        r[v] = _mm512_add_epi32(r[v],
                                kSigned ? _mm512_cvtepi16_epi32(h) : _mm512_cvtepu16_epi32(h));
      }
    }
  }
  for (int v = 0; v < V; ++v) _mm512_storeu_si512(acc + n0 + 16 * v, r[v]);
}

// 16 columns: two accumulators over alternate rows, so consecutive adds do not wait on
// each other.
template <bool kSigned>
EVO_AVX512 static inline __m512i Widen16(const uint16_t* row) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row));
  return kSigned ? _mm512_cvtepi16_epi32(h) : _mm512_cvtepu16_epi32(h);
}

template <bool kSigned>
EVO_AVX512 static inline void Chunk16Avx512(const Segment* segs, int nseg, int64_t np,
                                            int32_t* acc) {
  __m512i r0 = _mm512_loadu_si512(acc), r1 = _mm512_setzero_si512();
  const auto widen = Widen16<kSigned>;
  const int64_t step = 256 * np;
  for (int s = 0; s < nseg; ++s) {
    const uint16_t* t = segs[s].t;
    const uint8_t* codes = segs[s].codes;
    const int64_t count = segs[s].count;
    int64_t i = 0;
    for (; i + 2 <= count; i += 2, t += 2 * step) {
      r0 = _mm512_add_epi32(r0, widen(t + codes[i] * np));
      r1 = _mm512_add_epi32(r1, widen(t + step + codes[i + 1] * np));
    }
    if (i < count) r0 = _mm512_add_epi32(r0, widen(t + codes[i] * np));
  }
  _mm512_storeu_si512(acc, _mm512_add_epi32(r0, r1));
}

template <bool kSigned>
EVO_AVX512 void AddRowsAvx512(const Segment* segs, int nseg, int64_t np, int32_t* acc) {
  if (np == 16) return Chunk16Avx512<kSigned>(segs, nseg, np, acc);
  // up to 128 columns in one pass (8 of the 32 registers hold accumulators), so that each
  // row of T is visited once per pass
  for (int64_t n0 = 0; n0 < np;) {
    const int v = static_cast<int>(std::min<int64_t>(8, (np - n0) / 16));
    switch (v) {
      case 1: ChunkAvx512<kSigned, 1>(segs, nseg, np, n0, acc); break;
      case 2: ChunkAvx512<kSigned, 2>(segs, nseg, np, n0, acc); break;
      case 3: ChunkAvx512<kSigned, 3>(segs, nseg, np, n0, acc); break;
      case 4: ChunkAvx512<kSigned, 4>(segs, nseg, np, n0, acc); break;
      case 5: ChunkAvx512<kSigned, 5>(segs, nseg, np, n0, acc); break;
      case 6: ChunkAvx512<kSigned, 6>(segs, nseg, np, n0, acc); break;
      case 7: ChunkAvx512<kSigned, 7>(segs, nseg, np, n0, acc); break;
      default: ChunkAvx512<kSigned, 8>(segs, nseg, np, n0, acc); break;
    }
    n0 += 16 * v;
  }
}

template <bool kSigned, int V>
EVO_AVX2 static inline void ChunkAvx2(const Segment* segs, int nseg, int64_t np, int n0,
                                      int32_t* acc) {
  __m256i r[V];
  for (int v = 0; v < V; ++v)
    r[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + n0 + 8 * v));
  for (int s = 0; s < nseg; ++s) {
    const uint16_t* t = segs[s].t + n0;
    const uint8_t* codes = segs[s].codes;
    for (int64_t i = 0; i < segs[s].count; ++i, t += 256 * np) {
      const uint16_t* row = t + codes[i] * np;
      for (int v = 0; v < V; ++v) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * v));
        r[v] = _mm256_add_epi32(r[v],
                                kSigned ? _mm256_cvtepi16_epi32(h) : _mm256_cvtepu16_epi32(h));
      }
    }
  }
  for (int v = 0; v < V; ++v)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + n0 + 8 * v), r[v]);
}

template <bool kSigned>
EVO_AVX2 void AddRowsAvx2(const Segment* segs, int nseg, int64_t np, int32_t* acc) {
  // up to 64 columns in one pass (8 of the 16 registers hold accumulators); np is a
  // multiple of 16, so a pass covers an even number of 8-lane vectors
  for (int64_t n0 = 0; n0 < np;) {
    const int v = static_cast<int>(std::min<int64_t>(8, (np - n0) / 8));
    switch (v) {
      case 2: ChunkAvx2<kSigned, 2>(segs, nseg, np, n0, acc); break;
      case 4: ChunkAvx2<kSigned, 4>(segs, nseg, np, n0, acc); break;
      case 6: ChunkAvx2<kSigned, 6>(segs, nseg, np, n0, acc); break;
      default: ChunkAvx2<kSigned, 8>(segs, nseg, np, n0, acc); break;
    }
    n0 += 8 * v;
  }
}

#endif  // EVO_X86

template <bool kSigned>
void AddRowsGeneric(const Segment* segs, int nseg, int64_t np, int32_t* acc) {
  for (int s = 0; s < nseg; ++s) {
    const uint16_t* t = segs[s].t;
    for (int64_t i = 0; i < segs[s].count; ++i, t += 256 * np) {
      const uint16_t* row = t + segs[s].codes[i] * np;
      for (int64_t n = 0; n < np; ++n)
        acc[n] += kSigned ? static_cast<int32_t>(static_cast<int16_t>(row[n]))
                          : static_cast<int32_t>(row[n]);
    }
  }
}

// ---------------------------------------------------------------- table gathering
// T[k][a][n] = lut16[a][w[k][n]] for k in [k0, k1), n < N (0 for N <= n < np); lut16 is the
// product table as 16-bit patterns, 256 x 256 (columns past the table's width are 0).
void GatherTableGeneric(const uint16_t* lut16, const uint8_t* W, int64_t N, int64_t np,
                        int64_t k0, int64_t k1, uint16_t* T) {
  for (int64_t k = k0; k < k1; ++k) {
    const uint8_t* wk = W + k * N;
    uint16_t* tk = T + k * 256 * np;
    for (int64_t a = 0; a < 256; ++a) {
      const uint16_t* la = lut16 + a * 256;
      uint16_t* dst = tk + a * np;
      for (int64_t n = 0; n < N; ++n) dst[n] = la[wk[n]];
      for (int64_t n = N; n < np; ++n) dst[n] = 0;
    }
  }
}

#ifdef EVO_X86
// The same with 16-bit permutes: a table row (256 entries) sits in 8 registers, and 32 outputs
// take four two-register permutes (index bits 0-5) and three blends (bits 6 and 7).
EVO_AVX512 void GatherTableAvx512(const uint16_t* lut16, const uint8_t* W, int64_t N,
                                  int64_t np, int64_t k0, int64_t k1, uint16_t* T) {
  const int64_t chunks = (np + 31) / 32;
  const int64_t count = (k1 - k0) * chunks;
  std::vector<uint16_t> idx16(count * 32);  // (no vector of __m512i: its alignment is lost)
  std::vector<__mmask32> bit6(count), bit7(count), keep(count);
  const __m512i b6 = _mm512_set1_epi16(64), b7 = _mm512_set1_epi16(128);
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t i = (k - k0) * chunks + c, n0 = 32 * c;
      const int64_t valid = std::max<int64_t>(0, std::min<int64_t>(32, N - n0));
      const __mmask32 m = valid >= 32 ? ~__mmask32(0) : ((__mmask32(1) << valid) - 1);
      const __m256i codes = _mm256_maskz_loadu_epi8(m, W + k * N + n0);
      const __m512i v = _mm512_cvtepu8_epi16(codes);
      _mm512_storeu_si512(&idx16[i * 32], v);
      bit6[i] = _mm512_test_epi16_mask(v, b6);
      bit7[i] = _mm512_test_epi16_mask(v, b7);
      keep[i] = m;
    }
  const int64_t tail = np - 32 * (chunks - 1);  // 16 or 32 lanes in the last chunk
  for (int64_t a = 0; a < 256; ++a) {
    const __m512i* row = reinterpret_cast<const __m512i*>(lut16 + a * 256);
    const __m512i r0 = _mm512_loadu_si512(row), r1 = _mm512_loadu_si512(row + 1),
                  r2 = _mm512_loadu_si512(row + 2), r3 = _mm512_loadu_si512(row + 3),
                  r4 = _mm512_loadu_si512(row + 4), r5 = _mm512_loadu_si512(row + 5),
                  r6 = _mm512_loadu_si512(row + 6), r7 = _mm512_loadu_si512(row + 7);
    for (int64_t k = k0; k < k1; ++k) {
      uint16_t* dst = T + (k * 256 + a) * np;
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t i = (k - k0) * chunks + c;
        const __m512i ix = _mm512_loadu_si512(&idx16[i * 32]);
        const __m512i q0 = _mm512_permutex2var_epi16(r0, ix, r1);
        const __m512i q1 = _mm512_permutex2var_epi16(r2, ix, r3);
        const __m512i q2 = _mm512_permutex2var_epi16(r4, ix, r5);
        const __m512i q3 = _mm512_permutex2var_epi16(r6, ix, r7);
        const __m512i lo = _mm512_mask_blend_epi16(bit6[i], q0, q1);
        const __m512i hi = _mm512_mask_blend_epi16(bit6[i], q2, q3);
        const __m512i v =
            _mm512_maskz_mov_epi16(keep[i], _mm512_mask_blend_epi16(bit7[i], lo, hi));
        if (c + 1 < chunks || tail == 32)
          _mm512_storeu_si512(dst + 32 * c, v);
        else
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * c),
                              _mm512_castsi512_si256(v));
      }
    }
  }
}

// AVX2 has no 16-bit permute across a whole row: byte shuffles over 16 sub-tables of 16
// entries, or 32-bit gathers, both took longer than the generic loop (1.6x and 1.3x on an
// AMD EPYC). This build reads the table transposed instead, lutT[b][a] = lut16[a][b]: for one
// k and 16 columns n0..n0+15, the 16 source columns lutT[w[k][n]][0..256) are contiguous
// rows, and a 16 x 16 block of them (16 values of a) is transposed in registers into 16 rows
// a of T, 16 columns each (0.2x the time of the generic loop). Columns n >= N read a row of
// zeros.

// Transposes a 16 x 16 block of 16-bit values in place: r[i] holds row i on entry and
// column i on exit. Three rounds of interleaves (16-, 32-, 64-bit) work inside each
// 128-bit half; a last exchange of halves puts columns 0-7 and 8-15 together.
EVO_AVX2 static inline void Transpose16x16(__m256i* r) {
  __m256i t[16], u[16];
  // t[2i] = rows 2i, 2i+1 interleaved at columns 0-3 (low half) and 8-11 (high half);
  // t[2i+1] the same at columns 4-7 and 12-15.
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + q] = rows 4i..4i+3 at columns 2q, 2q+1 (low half) and 2q+8, 2q+9 (high half).
  for (int i = 0; i < 4; ++i)
    for (int h = 0; h < 2; ++h) {
      u[4 * i + 2 * h] = _mm256_unpacklo_epi32(t[4 * i + h], t[4 * i + 2 + h]);
      u[4 * i + 2 * h + 1] = _mm256_unpackhi_epi32(t[4 * i + h], t[4 * i + 2 + h]);
    }
  // t[8i + c] = rows 8i..8i+7 of column c (low half) and of column c + 8 (high half).
  for (int i = 0; i < 2; ++i)
    for (int q = 0; q < 4; ++q) {
      t[8 * i + 2 * q] = _mm256_unpacklo_epi64(u[8 * i + q], u[8 * i + 4 + q]);
      t[8 * i + 2 * q + 1] = _mm256_unpackhi_epi64(u[8 * i + q], u[8 * i + 4 + q]);
    }
  // column c = rows 0-7 (low half of t[c]) then rows 8-15 (low half of t[8 + c]).
  for (int c = 0; c < 8; ++c) {
    r[c] = _mm256_permute2x128_si256(t[c], t[8 + c], 0x20);
    r[c + 8] = _mm256_permute2x128_si256(t[c], t[8 + c], 0x31);
  }
}

// lutT is the transposed table, 256 x 256 (rows past the table's width are never read). The
// loop order keeps the 16 source rows of one (k, n0) block (8 KB) in L1 while all 256 a pass.
EVO_AVX2 void GatherTableAvx2(const uint16_t* lutT, const uint8_t* W, int64_t N, int64_t np,
                              int64_t k0, int64_t k1, uint16_t* T) {
  alignas(32) static const uint16_t kZeroRow[256] = {};
  for (int64_t k = k0; k < k1; ++k) {
    const uint8_t* wk = W + k * N;
    for (int64_t n0 = 0; n0 < np; n0 += 16) {
      const uint16_t* src[16];
      for (int i = 0; i < 16; ++i) src[i] = n0 + i < N ? lutT + wk[n0 + i] * 256 : kZeroRow;
      uint16_t* dst = T + k * 256 * np + n0;
      for (int a0 = 0; a0 < 256; a0 += 16) {
        __m256i r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[i] + a0));
        Transpose16x16(r);
        for (int j = 0; j < 16; ++j)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (a0 + j) * np), r[j]);
      }
    }
  }
}
#endif  // EVO_X86

// A gather build and the layout of the 256 x 256 table it reads: lut16[a][b], or transposed,
// lutT[b][a].
using GatherFn = void (*)(const uint16_t*, const uint8_t*, int64_t, int64_t, int64_t, int64_t,
                          uint16_t*);
struct Gather {
  GatherFn fn;
  bool transposed;
};

using AddFn = void (*)(const Segment*, int, int64_t, int32_t*);

// Run-time dispatch on the CPU's features. Levels: 2 = AVX-512 (F, BW, VL), 1 = AVX2 (with
// FMA, as the AVX2 build is compiled), 0 = generic. $EVOAPPROXNAS_OP_SIMD = avx512 | avx2 |
// generic asks for one build (the tests use it to check each); when the CPU lacks it, the op
// runs the best build the CPU has, and EvoApproxSimdInfo (below) reports both, so that the
// Python side can say so. Any other non-empty value is refused by the ops.

// The best level this CPU supports.
int CpuSimdLevel() {
#ifdef EVO_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
  return 0;
}

// The level $EVOAPPROXNAS_OP_SIMD asks for (case-insensitive): -1 when unset or empty, -2 when
// it names no build.
int RequestedSimdLevel() {
  const char* env = std::getenv("EVOAPPROXNAS_OP_SIMD");
  std::string want = env ? env : "";
  for (char& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (want.empty()) return -1;
  if (want == "generic") return 0;
  if (want == "avx2") return 1;
  if (want == "avx512") return 2;
  return -2;
}

// The level the ops use now: the requested one capped by the CPU's, else the CPU's best.
int SimdLevel() {
  const int cpu = CpuSimdLevel(), requested = RequestedSimdLevel();
  return requested < 0 ? cpu : std::min(requested, cpu);
}

Status CheckSimdRequest() {
  if (RequestedSimdLevel() != -2) return OkStatus();
  return errors::InvalidArgument("EVOAPPROXNAS_OP_SIMD must be avx512, avx2 or generic, got '",
                                 std::getenv("EVOAPPROXNAS_OP_SIMD"), "'");
}

Gather PickGather() {
#ifdef EVO_X86
  const int level = SimdLevel();
  if (level == 2) return {GatherTableAvx512, false};
  if (level == 1) return {GatherTableAvx2, true};
#endif
  return {GatherTableGeneric, false};
}

AddFn PickAdd(bool is_signed) {
#ifdef EVO_X86
  const int level = SimdLevel();
  if (level == 2) return is_signed ? AddRowsAvx512<true> : AddRowsAvx512<false>;
  if (level == 1) return is_signed ? AddRowsAvx2<true> : AddRowsAvx2<false>;
#endif
  return is_signed ? AddRowsGeneric<true> : AddRowsGeneric<false>;
}

// The product table [256, W] (W = 2^N weight codes, N = 2..8) and its width; weight codes must
// be < W.
Status ReadTable(const Tensor& lut, const Tensor& w, int64_t* width) {
  if (lut.dims() != 2 || lut.dim_size(0) != 256 || lut.dim_size(1) < 1 ||
      lut.dim_size(1) > 256)
    return errors::InvalidArgument("lut must have shape [256, 2^N] with N <= 8, got ",
                                   lut.shape().DebugString());
  *width = lut.dim_size(1);
  if (*width == 256) return OkStatus();
  const uint8_t* W = w.flat<uint8>().data();
  for (int64_t i = 0; i < w.NumElements(); ++i)
    if (W[i] >= *width)
      return errors::InvalidArgument("weight code ", static_cast<int>(W[i]),
                                     " does not index a table of ", *width, " weight codes");
  return OkStatus();
}

// Per-call values of the conv ops (activation zero point = padding code, and for the
// dequantizing variant the weight zero point, scale and bias).
struct CallParams {
  int pad_code = 0;
  int64_t width = 256;            // weight codes of the table (its second dimension)
  const int32_t* w_zero = nullptr;  // weight zero point(s): 1 or one per output channel
  const float* scale = nullptr;     // scale(s): 1 or one per output channel
  bool per_channel = false;
  const float* bias = nullptr;
};

// ---------------------------------------------------------------- shared geometry
struct Geometry {
  int64_t batch, h, w, c, kh, kw, n_per_c, ho, wo;
  int sh, sw, pt, pl;
};

Status ReadGeometry(OpKernelContext* ctx, const Tensor& x, const Tensor& w,
                    const std::vector<int32>& strides, const std::vector<int32>& pads,
                    bool depthwise, Geometry* g) {
  if (x.dims() != 4 || w.dims() != 4)
    return errors::InvalidArgument("x must be NHWC and w HWIO (rank 4)");
  if (strides.size() != 2 || pads.size() != 4)
    return errors::InvalidArgument("strides needs 2 values and pads 4");
  g->batch = x.dim_size(0);
  g->h = x.dim_size(1);
  g->w = x.dim_size(2);
  g->c = x.dim_size(3);
  g->kh = w.dim_size(0);
  g->kw = w.dim_size(1);
  if (w.dim_size(2) != g->c)
    return errors::InvalidArgument("input channels of x (", g->c, ") and w (", w.dim_size(2),
                                   ") differ");
  g->n_per_c = w.dim_size(3);
  g->sh = strides[0];
  g->sw = strides[1];
  g->pt = pads[0];
  g->pl = pads[2];
  if (g->sh < 1 || g->sw < 1) return errors::InvalidArgument("strides must be >= 1");
  const int64_t hp = g->h + pads[0] + pads[1], wp = g->w + pads[2] + pads[3];
  if (hp < g->kh || wp < g->kw) return errors::InvalidArgument("kernel larger than input");
  g->ho = (hp - g->kh) / g->sh + 1;
  g->wo = (wp - g->kw) / g->sw + 1;
  (void)depthwise;
  (void)ctx;
  return OkStatus();
}

// Pointers to the cin codes seen by each tap of output row m (or to a padding row); with
// ``pixels``, also each tap's input pixel index (b, ih, iw flattened; -1 for padding).
inline void TapPointers(const Geometry& g, const uint8_t* x, const uint8_t* pad_row, int64_t m,
                        const uint8_t** taps, int64_t* pixels = nullptr) {
  const int64_t ow = m % g.wo, oh = (m / g.wo) % g.ho, b = m / (g.wo * g.ho);
  const uint8_t* img = x + b * g.h * g.w * g.c;
  int t = 0;
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t ih = oh * g.sh + i - g.pt;
    for (int64_t j = 0; j < g.kw; ++j, ++t) {
      const int64_t iw = ow * g.sw + j - g.pl;
      const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
      taps[t] = inside ? img + (ih * g.w + iw) * g.c : pad_row;
      if (pixels != nullptr) pixels[t] = inside ? (b * g.h + ih) * g.w + iw : -1;
    }
  }
}

template <typename OutT>
class LutConvOp : public OpKernel {
  static constexpr bool kDequant = std::is_same<OutT, float>::value;

 public:
  explicit LutConvOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("strides", &strides_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pads", &pads_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& w = ctx->input(1);
    const Tensor& lut = ctx->input(2);
    OP_REQUIRES(ctx, ctx->input(3).NumElements() == 1,
                errors::InvalidArgument("pad_code must be a scalar"));
    OP_REQUIRES_OK(ctx, CheckSimdRequest());
    CallParams p;
    p.pad_code = ctx->input(3).flat<int32>()(0) & 0xFF;
    Geometry g;
    OP_REQUIRES_OK(ctx, ReadGeometry(ctx, x, w, strides_, pads_, false, &g));
    OP_REQUIRES_OK(ctx, ReadTable(lut, w, &p.width));
    if (kDequant) {
      const int64_t nz = ctx->input(4).NumElements(), ns = ctx->input(5).NumElements();
      p.per_channel = nz == g.n_per_c && ns == g.n_per_c && g.n_per_c > 1;
      OP_REQUIRES(ctx, (nz == 1 && ns == 1) || p.per_channel,
                  errors::InvalidArgument("w_zero and scale must be scalars or have one value "
                                          "per output channel"));
      OP_REQUIRES(ctx, ctx->input(6).NumElements() == g.n_per_c,
                  errors::InvalidArgument("bias must have one value per output channel"));
      OP_REQUIRES(ctx, g.kh * g.kw * g.c <= 32768,
                  errors::InvalidArgument("dequantizing op supports K <= 32768"));
      p.w_zero = ctx->input(4).flat<int32>().data();
      p.scale = ctx->input(5).flat<float>().data();
      p.bias = ctx->input(6).flat<float>().data();
    }
    const int32_t* L = lut.flat<int32>().data();
    const int64_t entries = 256 * p.width;
    int32_t lo = L[0], hi = L[0];
    for (int64_t i = 1; i < entries; ++i) lo = std::min(lo, L[i]), hi = std::max(hi, L[i]);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({g.batch, g.ho, g.wo, g.n_per_c}), &y));
    if (y->NumElements() == 0) return;
    if (lo >= 0 && hi <= 65535) {
      Run<uint16_t>(ctx, g, p, x, w, L, y);
    } else if (lo >= -32768 && hi <= 32767) {
      Run<int16_t>(ctx, g, p, x, w, L, y);
    } else {
      ctx->SetStatus(errors::InvalidArgument("lut values must fit in 16 bits"));
    }
  }

 private:
  template <typename TT>
  void Run(OpKernelContext* ctx, const Geometry& g, const CallParams& p, const Tensor& x,
           const Tensor& w, const int32_t* L, Tensor* y) {
    const int pad_code = p.pad_code;
    const int64_t taps = g.kh * g.kw, cin = g.c, K = taps * cin, N = g.n_per_c;
    const int64_t np = (N + kLanes - 1) / kLanes * kLanes;
    const int64_t M = g.batch * g.ho * g.wo;
    const uint8_t* W = w.flat<uint8>().data();
    const uint8_t* X = x.flat<uint8>().data();
    auto pool = ctx->device()->tensorflow_cpu_worker_threads();

    // Gathered table T[k][a][n] = lut[a, w[k, n]].
    Tensor t_tensor;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_UINT16, TensorShape({K * 256 * np}), &t_tensor));
    uint16_t* T = t_tensor.flat<uint16>().data();
    // The table as 16-bit patterns (int16 for signed tables), 256 x 256, in the layout the
    // gather build reads: [a][b], or [b][a] when transposed (then a goes in blocks of 16,
    // so that the writes stay on a few cache lines: 8x faster than a row at a time).
    const Gather gather = PickGather();
    std::vector<uint16_t> lut16(256 * 256, 0);
    if (gather.transposed) {
      for (int64_t a0 = 0; a0 < 256; a0 += 16)
        for (int64_t b = 0; b < p.width; ++b)
          for (int64_t a = a0; a < a0 + 16; ++a)
            lut16[b * 256 + a] = static_cast<uint16_t>(L[a * p.width + b]);
    } else {
      for (int64_t a = 0; a < 256; ++a)
        for (int64_t b = 0; b < p.width; ++b)
          lut16[a * 256 + b] = static_cast<uint16_t>(L[a * p.width + b]);
    }
    Shard(pool->num_threads, pool->workers, K, 256 * np, [&](int64_t k0, int64_t k1) {
      gather.fn(lut16.data(), W, N, np, k0, k1, T);
    });

    // k-blocks: consecutive k with one block of T inside the L2 budget.
    const int64_t kb = std::max<int64_t>(1, kBlockBytes / (256 * np * sizeof(TT)));
    const AddFn add = PickAdd(std::is_signed<TT>::value);
    const std::vector<uint8_t> pad_row(cin, static_cast<uint8_t>(pad_code));
    OutT* Y = y->flat<OutT>().data();
    // Rows per tile: the accumulators of a tile and one k-block of T share L2, so each block
    // is fetched once per tile and reused by all its rows.
    const int64_t fit = std::min(kTileBytes / (np * 4), kTileBytes / (taps * 8));
    const int64_t kTileRows = std::min<int64_t>(4096, std::max<int64_t>(32, fit));
    const int64_t tiles = (M + kTileRows - 1) / kTileRows;
    const int64_t cost = kTileRows * K * np / 4 + 1;
    // The segments of each k-block (runs of k within one tap) are the same for every row, which
    // only supplies its tap pointers: worked out once here, not per row (the divisions cost
    // more than the additions on layers with few input channels).
    struct BlockSegment {
      int64_t t_offset, tap, channel, count;
    };
    std::vector<std::vector<BlockSegment>> block_segments;
    for (int64_t k0 = 0; k0 < K; k0 += kb) {
      const int64_t k1 = std::min(K, k0 + kb);
      std::vector<BlockSegment> runs;
      for (int64_t k = k0; k < k1;) {
        const int64_t t = k / cin, c = k % cin, end = std::min(k1, (t + 1) * cin);
        runs.push_back(BlockSegment{k * 256 * np, t, c, end - k});
        k = end;
      }
      block_segments.push_back(std::move(runs));
    }
    // Dequantizing variant: exact offsets from code sums (rows over k, columns of w).
    std::vector<double> col_term(N, 0.0), zw(N, 0.0), scale(N, 1.0);
    const double za = pad_code;
    if (kDequant) {
      for (int64_t n = 0; n < N; ++n) {
        zw[n] = p.w_zero[p.per_channel ? n : 0];
        scale[n] = p.scale[p.per_channel ? n : 0];
        int64_t sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += W[k * N + n];
        col_term[n] = -za * static_cast<double>(sum) + static_cast<double>(K) * za * zw[n];
      }
    }
    // Code sum of every input pixel (over channels); a row's sum adds those of its taps.
    std::vector<int32_t> pixel_sum(kDequant ? g.batch * g.h * g.w : 0);
    if (kDequant) {
      Shard(pool->num_threads, pool->workers, pixel_sum.size(), cin,
            [&](int64_t p0, int64_t p1) {
              for (int64_t p = p0; p < p1; ++p) {
                int32_t sum = 0;
                for (int64_t c = 0; c < cin; ++c) sum += X[p * cin + c];
                pixel_sum[p] = sum;
              }
            });
    }
    Shard(pool->num_threads, pool->workers, tiles, cost, [&](int64_t t0, int64_t t1) {
      std::vector<int32_t> acc(kTileRows * np);
      std::vector<int64_t> row_sum(kDequant ? kTileRows : 0);
      std::vector<const uint8_t*> tap_ptr(kTileRows * taps);
      std::vector<int64_t> tap_pixel(kDequant ? taps : 0);
      std::vector<Segment> segs(kb + 1);
      for (int64_t tile = t0; tile < t1; ++tile) {
        const int64_t m0 = tile * kTileRows, mr = std::min<int64_t>(kTileRows, M - m0);
        std::fill(acc.begin(), acc.end(), 0);
        for (int64_t r = 0; r < mr; ++r) {
          TapPointers(g, X, pad_row.data(), m0 + r, &tap_ptr[r * taps],
                      kDequant ? tap_pixel.data() : nullptr);
          if (kDequant) {
            int64_t sum = 0;
            for (int64_t t = 0; t < taps; ++t)
              sum += tap_pixel[t] < 0 ? cin * pad_code : pixel_sum[tap_pixel[t]];
            row_sum[r] = sum;
          }
          if (!kDequant && sizeof(OutT) > 4) std::fill(Y + (m0 + r) * N, Y + (m0 + r + 1) * N, OutT(0));
        }
        for (int64_t k0 = 0; k0 < K; k0 += kb) {
          const int64_t k1 = std::min(K, k0 + kb);
          const std::vector<BlockSegment>& runs = block_segments[k0 / kb];
          // The next block of T (or the first, for the next tile) is brought into L2 while
          // this one is used, a few lines per row: its rows are read in random order, and
          // fetched on demand each would wait on L3 (measured: 0.6x the time without).
          const int64_t nk0 = k1 < K ? k1 : 0, nk1 = std::min(K, nk0 + kb);
          const char* next = reinterpret_cast<const char*>(T + nk0 * 256 * np);
          const int64_t lines = (nk1 - nk0) * 256 * np * 2 / 64;
          const int64_t per_row = (lines + mr - 1) / mr;
          for (int64_t r = 0; r < mr; ++r) {
            for (int64_t l = r * per_row, le = std::min(lines, l + per_row); l < le; ++l)
              __builtin_prefetch(next + l * 64, 0, 2);
            const uint8_t* const* tp = &tap_ptr[r * taps];
            int nseg = 0;
            for (const BlockSegment& run : runs)
              segs[nseg++] = Segment{T + run.t_offset, tp[run.tap] + run.channel, run.count};
            add(segs.data(), nseg, np, &acc[r * np]);
          }
          if (!kDequant && sizeof(OutT) > 4 && k1 < K) Flush(acc, mr, np, N, m0, Y, true);
        }
        if (kDequant) {
          for (int64_t r = 0; r < mr; ++r) {
            const int32_t* src = &acc[r * np];
            float* dst = reinterpret_cast<float*>(Y) + (m0 + r) * N;
            const double rs = static_cast<double>(row_sum[r]);
            for (int64_t n = 0; n < N; ++n)
              dst[n] = static_cast<float>(scale[n] * (src[n] - zw[n] * rs + col_term[n])) +
                       p.bias[n];
          }
        } else {
          Flush(acc, mr, np, N, m0, Y, sizeof(OutT) > 4);
        }
      }
    });
  }

  // Writes (or, for 64-bit outputs, adds) the accumulator tile into y and clears it.
  static void Flush(std::vector<int32_t>& acc, int64_t mr, int64_t np, int64_t N, int64_t m0,
                    OutT* Y, bool accumulate) {
    for (int64_t r = 0; r < mr; ++r) {
      OutT* dst = Y + (m0 + r) * N;
      int32_t* src = &acc[r * np];
      if (accumulate) {  // 64-bit outputs: rows were zeroed when the tile started
        for (int64_t n = 0; n < N; ++n) dst[n] += src[n];
      } else {
        for (int64_t n = 0; n < N; ++n) dst[n] = src[n];
      }
      std::fill(src, src + np, 0);
    }
  }

  std::vector<int32> strides_, pads_;  // attributes only: Compute may run concurrently
};

// Depthwise: out[b, oh, ow, c * dm + q] = sum over taps of lut[x[.., c], w[i, j, c, q]].
template <typename OutT>
class LutDepthwiseOp : public OpKernel {
 public:
  explicit LutDepthwiseOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("strides", &strides_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pads", &pads_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& w = ctx->input(1);
    const Tensor& lut = ctx->input(2);
    OP_REQUIRES(ctx, ctx->input(3).NumElements() == 1,
                errors::InvalidArgument("pad_code must be a scalar"));
    OP_REQUIRES_OK(ctx, CheckSimdRequest());
    const int pad_code = ctx->input(3).flat<int32>()(0) & 0xFF;
    Geometry g;
    OP_REQUIRES_OK(ctx, ReadGeometry(ctx, x, w, strides_, pads_, true, &g));
    int64_t width = 256;
    OP_REQUIRES_OK(ctx, ReadTable(lut, w, &width));
    const int64_t C = g.c, dm = g.n_per_c, taps = g.kh * g.kw, M = g.batch * g.ho * g.wo;
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({g.batch, g.ho, g.wo, C * dm}), &y));
    if (y->NumElements() == 0) return;
    const int32_t* L = lut.flat<int32>().data();
    const uint8_t* W = w.flat<uint8>().data();
    const uint8_t* X = x.flat<uint8>().data();
    // Column table: col[t][c*dm+q][a] = lut[a, w[t, c, q]].
    std::vector<int32_t> col(taps * C * dm * 256);
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t cq = 0; cq < C * dm; ++cq) {
        const uint8_t wv = W[t * C * dm + cq];
        int32_t* dst = &col[(t * C * dm + cq) * 256];
        for (int a = 0; a < 256; ++a) dst[a] = L[a * width + wv];
      }
    const std::vector<uint8_t> pad_row(C, static_cast<uint8_t>(pad_code));
    OutT* Y = y->flat<OutT>().data();
    auto pool = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(pool->num_threads, pool->workers, M, taps * C * dm * 2, [&](int64_t m0, int64_t m1) {
      std::vector<const uint8_t*> tp(taps);
      for (int64_t m = m0; m < m1; ++m) {
        TapPointers(g, X, pad_row.data(), m, tp.data());
        OutT* dst = Y + m * C * dm;
        std::fill(dst, dst + C * dm, OutT(0));
        for (int64_t t = 0; t < taps; ++t) {
          const uint8_t* src = tp[t];
          const int32_t* ct = &col[t * C * dm * 256];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t q = 0; q < dm; ++q)
              dst[c * dm + q] += ct[(c * dm + q) * 256 + src[c]];
        }
      }
    });
  }

 private:
  std::vector<int32> strides_, pads_;
};

inline uint8_t QuantizeOne(float v, float scale, float zero, float lo, float hi) {
  float q = std::nearbyint(v / scale) + zero;
  q = q >= lo ? q : lo;  // NaN -> lo
  q = q <= hi ? q : hi;
  return static_cast<uint8_t>(static_cast<int32_t>(q) & 0xFF);
}

#ifdef EVO_X86
// Vector body of QuantizeOne (IEEE division, round half to even); returns where it stopped.
EVO_AVX512 int64_t QuantizeAvx512(const float* src, uint8_t* dst, int64_t i0, int64_t i1,
                                  float scale, float zero, float lo, float hi) {
  const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps(zero);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m512 q = _mm512_div_ps(_mm512_loadu_ps(src + i), vs);
    q = _mm512_add_ps(_mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
    q = _mm512_min_ps(_mm512_max_ps(q, vlo), vhi);  // max(NaN, lo) = lo
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
  }
  return i;
}
#endif  // EVO_X86

class QuantizeCodesOp : public OpKernel {
 public:
  explicit QuantizeCodesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("is_signed", &is_signed_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, ctx->input(1).NumElements() == 1 && ctx->input(2).NumElements() == 1,
                errors::InvalidArgument("scale and zero_point must be scalars"));
    OP_REQUIRES_OK(ctx, CheckSimdRequest());
    const float scale = ctx->input(1).flat<float>()(0);
    const float zero = ctx->input(2).flat<float>()(0);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    const float* src = x.flat<float>().data();
    uint8_t* dst = y->flat<uint8>().data();
    const float lo = is_signed_ ? -127.0f : 0.0f, hi = is_signed_ ? 127.0f : 255.0f;
    const bool avx512 = SimdLevel() == 2;
    auto pool = ctx->device()->tensorflow_cpu_worker_threads();
    Shard(pool->num_threads, pool->workers, x.NumElements(), 8, [&](int64_t i0, int64_t i1) {
#ifdef EVO_X86
      if (avx512) i0 = QuantizeAvx512(src, dst, i0, i1, scale, zero, lo, hi);
#endif
      for (int64_t i = i0; i < i1; ++i) dst[i] = QuantizeOne(src[i], scale, zero, lo, hi);
    });
  }

 private:
  bool is_signed_;
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("EvoQuantizeCodes").Device(DEVICE_CPU), QuantizeCodesOp);
REGISTER_KERNEL_BUILDER(
    Name("EvoLutConv2D").Device(DEVICE_CPU).TypeConstraint<int32>("out_type"),
    LutConvOp<int32>);
REGISTER_KERNEL_BUILDER(
    Name("EvoLutConv2D").Device(DEVICE_CPU).TypeConstraint<int64_t>("out_type"),
    LutConvOp<int64_t>);
REGISTER_KERNEL_BUILDER(Name("EvoLutConv2DDequant").Device(DEVICE_CPU), LutConvOp<float>);
REGISTER_KERNEL_BUILDER(
    Name("EvoLutDepthwiseConv2D").Device(DEVICE_CPU).TypeConstraint<int32>("out_type"),
    LutDepthwiseOp<int32>);
REGISTER_KERNEL_BUILDER(
    Name("EvoLutDepthwiseConv2D").Device(DEVICE_CPU).TypeConstraint<int64_t>("out_type"),
    LutDepthwiseOp<int64_t>);

// What the dispatcher chooses, for evoapproxnas.approx.build.simd_info (through ctypes, in a
// process that has loaded this library): *used = the level the ops run now, *cpu = the best
// level of this CPU, *requested = the level $EVOAPPROXNAS_OP_SIMD asks for (-1 unset,
// -2 unknown name). Levels: 2 AVX-512, 1 AVX2, 0 generic. Returns 0.
extern "C" __attribute__((visibility("default"))) int EvoApproxSimdInfo(int* used, int* cpu,
                                                                        int* requested) {
  *used = SimdLevel();
  *cpu = CpuSimdLevel();
  *requested = RequestedSimdLevel();
  return 0;
}

// The real JPEG codec on uint8 images, batched: torch.ops.distortx.jpeg_codec(images, quality) encodes each image
// with libjpeg(-turbo) at its quality and decodes it again, on OpenMP threads, without the GIL and without a torch
// call per image. Built only where the compiler finds jpeglib.h (setup.py defines nothing else: the schema lives
// here, so the op exists exactly when it works).
//
// images uint8 [N, C, H, W], C in {1, 3}, NCHW- or channels-last-contiguous; quality int64 [N] in 1..100.
// Returns uint8 [N, C, H, W] channels-last (the decoder's own layout: its rows land in place, no copy).
// Settings are Pillow's defaults (quality scaled with force_baseline, 4:2:0 chroma for colour, integer DCT,
// Huffman tables not optimised; decoder: integer IDCT, fancy upsampling), so the bits equal Pillow's where the
// library is the same libjpeg-turbo: distortx/distortions/jpeg.py checks that on a probe image once per process and
// uses this op only then.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>

namespace distortx {
namespace {

// libjpeg reports errors through error_exit, which must not return: jump back to the call that set `where`.
struct JumpErrors {
  jpeg_error_mgr mgr;
  jmp_buf where;
  char message[JMSG_LENGTH_MAX];
};

void jump_on_error(j_common_ptr info) {
  JumpErrors* e = reinterpret_cast<JumpErrors*>(info->err);
  (*info->err->format_message)(info, e->message);
  longjmp(e->where, 1);
}

void no_warnings(j_common_ptr, int) {}

constexpr int kRowsPerCall = 16;  // an iMCU row of 4:2:0 JPEG

// One thread's compressor and decompressor, created once per call and reused for each of its images.
struct Codec {
  jpeg_compress_struct enc{};
  jpeg_decompress_struct dec{};
  JumpErrors enc_err{}, dec_err{};
  std::vector<uint8_t> row;   // NCHW rows interleaved for the encoder (kRowsPerCall of them)
  unsigned char* data = nullptr;  // the current image's JPEG file (jpeg_mem_dest's buffer): a member, so that its value
  unsigned long size = 0;         // survives a longjmp

  Codec() {
    enc.err = jpeg_std_error(&enc_err.mgr), enc_err.mgr.error_exit = jump_on_error, enc_err.mgr.emit_message = no_warnings;
    dec.err = jpeg_std_error(&dec_err.mgr), dec_err.mgr.error_exit = jump_on_error, dec_err.mgr.emit_message = no_warnings;
    jpeg_create_compress(&enc);
    jpeg_create_decompress(&dec);
  }
  ~Codec() {
    jpeg_destroy_compress(&enc);
    jpeg_destroy_decompress(&dec);
  }
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;
};

// Encodes image `src` (rows `row_stride` bytes apart; a pixel's channels `px` bytes apart, channels `ch` apart) at
// `quality` and decodes it into `dst` (H rows of W * C bytes). Returns nullptr or libjpeg's message. No object with a
// destructor lives in this frame (longjmp skips destructors); what must survive a jump lives in `k`.
const char* round_trip(Codec& k, const uint8_t* src, int64_t row_stride, int64_t px, int64_t ch, int C, int H, int W,
                       int quality, uint8_t* dst) {
  k.data = nullptr, k.size = 0;
  if (setjmp(k.enc_err.where)) {
    jpeg_abort_compress(&k.enc);
    std::free(k.data);
    return k.enc_err.message;
  }
  jpeg_mem_dest(&k.enc, &k.data, &k.size);
  k.enc.image_width = (JDIMENSION)W, k.enc.image_height = (JDIMENSION)H, k.enc.input_components = C;
  k.enc.in_color_space = C == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&k.enc);  // 4:2:0 for YCbCr, JDCT_ISLOW, no optimised Huffman tables: Pillow's defaults
  jpeg_set_quality(&k.enc, quality, TRUE);
  jpeg_start_compress(&k.enc, TRUE);
  const bool interleaved = px == C || C == 1;
  JSAMPROW rows[kRowsPerCall];
  while (k.enc.next_scanline < k.enc.image_height) {  // up to kRowsPerCall rows a call (fewer calls into the library)
    const int y0 = (int)k.enc.next_scanline, m = std::min(kRowsPerCall, H - y0);
    for (int i = 0; i < m; ++i) {
      const uint8_t* line = src + (int64_t)(y0 + i) * row_stride;
      if (!interleaved) {
        uint8_t* t = k.row.data() + (size_t)i * W * C;
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < C; ++c) t[(size_t)x * C + c] = line[c * ch + x * px];
        line = t;
      }
      rows[i] = const_cast<JSAMPROW>(line);
    }
    jpeg_write_scanlines(&k.enc, rows, (JDIMENSION)m);
  }
  jpeg_finish_compress(&k.enc);

  if (setjmp(k.dec_err.where)) {
    jpeg_abort_decompress(&k.dec);
    std::free(k.data);
    return k.dec_err.message;
  }
  jpeg_mem_src(&k.dec, k.data, k.size);
  jpeg_read_header(&k.dec, TRUE);
  k.dec.out_color_space = C == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_start_decompress(&k.dec);
  while (k.dec.output_scanline < k.dec.output_height) {
    const int y0 = (int)k.dec.output_scanline, m = std::min(kRowsPerCall, H - y0);
    for (int i = 0; i < m; ++i) rows[i] = dst + (int64_t)(y0 + i) * W * C;
    jpeg_read_scanlines(&k.dec, rows, (JDIMENSION)m);
  }
  jpeg_finish_decompress(&k.dec);
  std::free(k.data);
  return nullptr;
}

at::Tensor jpeg_codec_cpu(const at::Tensor& images, const at::Tensor& quality_) {
  TORCH_CHECK(images.device().is_cpu() && images.scalar_type() == at::kByte && images.dim() == 4,
              "distortx.jpeg_codec: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  TORCH_CHECK(C == 1 || C == 3, "distortx.jpeg_codec: images must have 1 or 3 channels, got ", C);
  TORCH_CHECK(H <= JPEG_MAX_DIMENSION && W <= JPEG_MAX_DIMENSION, "distortx.jpeg_codec: JPEG holds at most ",
              JPEG_MAX_DIMENSION, " pixels a side, got ", H, " x ", W);
  TORCH_CHECK(images.is_contiguous() || images.is_contiguous(at::MemoryFormat::ChannelsLast),
              "distortx.jpeg_codec: images must be NCHW- or channels-last-contiguous");
  const at::Tensor quality = quality_.to(at::kLong).contiguous();
  TORCH_CHECK(quality.dim() == 1 && quality.size(0) == N, "distortx.jpeg_codec: quality must be Tensor[N]");
  const int64_t* q = quality.data_ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    TORCH_CHECK(q[i] >= 1 && q[i] <= 100, "distortx.jpeg_codec: quality must be in 1..100, got ", q[i]);
  at::Tensor out = at::empty({N, C, H, W}, images.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (out.numel() == 0) return out;
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t s_img = images.stride(0), s_ch = images.stride(1), s_row = images.stride(2), s_px = images.stride(3);
  std::vector<std::string> errors((size_t)N);
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    Codec k;
    k.row.resize((size_t)kRowsPerCall * W * C);
    for (int64_t n = a; n < b; ++n) {
      const char* e = round_trip(k, in + n * s_img, s_row, s_px, s_ch, (int)C, (int)H, (int)W, (int)q[n], o + n * H * W * C);
      if (e) errors[(size_t)n] = e;
    }
  });
  for (int64_t n = 0; n < N; ++n) TORCH_CHECK(errors[(size_t)n].empty(), "distortx.jpeg_codec: image ", n, ": ", errors[(size_t)n]);
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_FRAGMENT(distortx, m) {
  // images u8 [N,C,H,W] (NCHW or channels-last), quality i64 [N] -> u8 [N,C,H,W] channels-last: the real codec's
  // round trip per image (csrc/codec/jpeg_codec_cpu.cpp; only in builds that found libjpeg)
  m.def("jpeg_codec(Tensor images, Tensor quality) -> Tensor");
}
TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("jpeg_codec", &distortx::jpeg_codec_cpu); }

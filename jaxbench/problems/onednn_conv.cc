// oneDNN convolutions (NHWC activations, HWIO kernels, float32) as XLA FFI handlers for jaxbench.
// Built on first use by jaxbench/problems/onednn.py (g++ -O2 -shared, -ldnnl); see there.
#include <cstdint>
#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

dnnl::engine& Engine() { static dnnl::engine eng(dnnl::engine::kind::cpu, 0); return eng; }

struct Geometry {
  dnnl::memory::dims src, wei, dst, strides, pad_l, pad_r;
};

Geometry Make(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w, ffi::Span<const int64_t> y,
              int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Geometry{{x[0], x[3], x[1], x[2]}, {w[3], w[2], w[0], w[1]}, {y[0], y[3], y[1], y[2]},
                  {sh, sw}, {pt, pl}, {pb, pr}};
}

// The descriptors every primitive is created from: activations NHWC as XLA lays them out, the
// weights in whatever layout oneDNN prefers (reordered from/to HWIO).
struct Descs {
  dnnl::memory::desc src, wei, dst;
};

Descs Describe(const Geometry& g) {
  return Descs{{g.src, dt::f32, tag::nhwc}, {g.wei, dt::f32, tag::any}, {g.dst, dt::f32, tag::nhwc}};
}

dnnl::convolution_forward::primitive_desc FwdPd(const Geometry& g) {
  Descs m = Describe(g);
  auto d = dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                           dnnl::algorithm::convolution_direct, m.src, m.wei,
                                           m.dst, g.strides, g.pad_l, g.pad_r);
  return dnnl::convolution_forward::primitive_desc(d, Engine());
}

// `user` memory (HWIO) in the layout `want` asks for (a reorder when they differ).
dnnl::memory Weights(dnnl::stream& s, const dnnl::memory::desc& want, const Geometry& g, void* data) {
  dnnl::memory user({g.wei, dt::f32, tag::hwio}, Engine(), data);
  if (want == user.get_desc()) return user;
  dnnl::memory out(want, Engine());
  dnnl::reorder(user, out).execute(s, user, out);
  return out;
}

}  // namespace

ffi::Error ConvFwdImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                       ffi::ResultBuffer<ffi::F32> y, int64_t sh, int64_t sw, int64_t pt,
                       int64_t pb, int64_t pl, int64_t pr) {
  Geometry g = Make(x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt, pb, pl, pr);
  auto pd = FwdPd(g);
  dnnl::stream s(Engine());
  dnnl::memory src(pd.src_desc(), Engine(), x.typed_data());
  dnnl::memory dst(pd.dst_desc(), Engine(), y->typed_data());
  dnnl::memory wei = Weights(s, pd.weights_desc(), g, w.typed_data());
  dnnl::convolution_forward(pd).execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei},
                                            {DNNL_ARG_DST, dst}});
  s.wait();
  return ffi::Error::Success();
}

ffi::Error ConvBwdDataImpl(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                           ffi::ResultBuffer<ffi::F32> dx, int64_t sh, int64_t sw, int64_t pt,
                           int64_t pb, int64_t pl, int64_t pr) {
  Geometry g = Make(dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
  auto hint = FwdPd(g);
  Descs m = Describe(g);
  auto d = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, m.src,
                                                 m.wei, m.dst, g.strides, g.pad_l, g.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(d, Engine(), hint);
  dnnl::stream s(Engine());
  dnnl::memory diff_dst(pd.diff_dst_desc(), Engine(), dy.typed_data());
  dnnl::memory diff_src(pd.diff_src_desc(), Engine(), dx->typed_data());
  dnnl::memory weights = Weights(s, pd.weights_desc(), g, w.typed_data());
  dnnl::convolution_backward_data(pd).execute(
      s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, diff_src}});
  s.wait();
  return ffi::Error::Success();
}

ffi::Error ConvBwdWeightsImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                              ffi::ResultBuffer<ffi::F32> dw, int64_t sh, int64_t sw, int64_t pt,
                              int64_t pb, int64_t pl, int64_t pr) {
  Geometry g = Make(x.dimensions(), dw->dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
  auto hint = FwdPd(g);
  Descs m = Describe(g);
  auto d = dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, m.src,
                                                    m.wei, m.dst, g.strides, g.pad_l, g.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, Engine(), hint);
  dnnl::stream s(Engine());
  dnnl::memory src_m(pd.src_desc(), Engine(), x.typed_data());
  dnnl::memory ddst_m(pd.diff_dst_desc(), Engine(), dy.typed_data());
  dnnl::memory user({g.wei, dt::f32, tag::hwio}, Engine(), dw->typed_data());
  bool direct = pd.diff_weights_desc() == user.get_desc();
  dnnl::memory dwei_m = direct ? user : dnnl::memory(pd.diff_weights_desc(), Engine());
  dnnl::convolution_backward_weights(pd).execute(
      s, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_DIFF_DST, ddst_m}, {DNNL_ARG_DIFF_WEIGHTS, dwei_m}});
  if (!direct) dnnl::reorder(dwei_m, user).execute(s, dwei_m, user);
  s.wait();
  return ffi::Error::Success();
}

#define ATTRS .Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("pt").Attr<int64_t>("pb") \
              .Attr<int64_t>("pl").Attr<int64_t>("pr")
XLA_FFI_DEFINE_HANDLER_SYMBOL(ConvFwd, ConvFwdImpl,
    ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
        .Ret<ffi::Buffer<ffi::F32>>() ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(ConvBwdData, ConvBwdDataImpl,
    ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
        .Ret<ffi::Buffer<ffi::F32>>() ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(ConvBwdWeights, ConvBwdWeightsImpl,
    ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
        .Ret<ffi::Buffer<ffi::F32>>() ATTRS);

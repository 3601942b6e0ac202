// oneDNN convolutions (NHWC activations, HWIO kernels, float32) and LSTM layers as XLA FFI handlers
// for jaxbench.
// Built on first use by jaxbench/problems/onednn.py (g++ -O2 -shared, -ldnnl); see there.
#include <cstdint>
#include <cstring>
#include <unordered_map>
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

// ---------------------------------------------------------------------------------------------
// LSTM: one unidirectional layer over a sequence, oneDNN's gate order (i, f, c~, o). Activations
// src [T, N, I] (tnc), states [N, H] (ldnc with L = D = 1), weights [I, 4, H] / [H, 4, H]
// (ldigo), bias [4, H] (ldgo), as onednn.py lays them out. Training forward writes the
// workspace the backward pass reads.

namespace {

struct LstmDescs {
  dnnl::memory::desc src, state, wl_user, wi_user, wl_any, wi_any, bias, dst;
};

LstmDescs DescribeLstm(int64_t t, int64_t n, int64_t i, int64_t h) {
  auto md = [](dnnl::memory::dims d, tag f) { return dnnl::memory::desc(d, dt::f32, f); };
  return LstmDescs{md({t, n, i}, tag::tnc), md({1, 1, n, h}, tag::ldnc),
                   md({1, 1, i, 4, h}, tag::ldigo), md({1, 1, h, 4, h}, tag::ldigo),
                   md({1, 1, i, 4, h}, tag::any), md({1, 1, h, 4, h}, tag::any),
                   md({1, 1, 4, h}, tag::ldgo), md({t, n, h}, tag::tnc)};
}

dnnl::lstm_forward::primitive_desc LstmFwdPd(const LstmDescs& m) {
  dnnl::lstm_forward::desc d(dnnl::prop_kind::forward_training,
                             dnnl::rnn_direction::unidirectional_left2right, m.src, m.state,
                             m.state, m.wl_any, m.wi_any, m.bias, m.dst, m.state, m.state);
  return dnnl::lstm_forward::primitive_desc(d, Engine());
}

// A caller's buffer as oneDNN memory of layout `d`.
dnnl::memory Wrap(const dnnl::memory::desc& d, void* data) {
  return dnnl::memory(d, Engine(), data);
}

// The arguments forward and backward share: inputs, weights, outputs and the workspace.
std::unordered_map<int, dnnl::memory> LstmArgs(
    const LstmDescs& m, const dnnl::memory::desc& workspace, void* x, void* h0, void* c0,
    dnnl::memory wl, dnnl::memory wi, void* b, void* y, void* h_t, void* c_t, void* ws) {
  return {{DNNL_ARG_SRC_LAYER, Wrap(m.src, x)}, {DNNL_ARG_SRC_ITER, Wrap(m.state, h0)},
          {DNNL_ARG_SRC_ITER_C, Wrap(m.state, c0)}, {DNNL_ARG_WEIGHTS_LAYER, wl},
          {DNNL_ARG_WEIGHTS_ITER, wi}, {DNNL_ARG_BIAS, Wrap(m.bias, b)},
          {DNNL_ARG_DST_LAYER, Wrap(m.dst, y)}, {DNNL_ARG_DST_ITER, Wrap(m.state, h_t)},
          {DNNL_ARG_DST_ITER_C, Wrap(m.state, c_t)}, {DNNL_ARG_WORKSPACE, Wrap(workspace, ws)}};
}

// `user` (ldigo) in the layout `want` asks for.
dnnl::memory Reordered(dnnl::stream& s, const dnnl::memory::desc& want,
                       const dnnl::memory::desc& have, void* data) {
  dnnl::memory user = Wrap(have, data);
  if (want == have) return user;
  dnnl::memory out(want, Engine());
  dnnl::reorder(user, out).execute(s, user, out);
  return out;
}

}  // namespace

using F32 = ffi::Buffer<ffi::F32>;
using F32Ret = ffi::ResultBuffer<ffi::F32>;

extern "C" int64_t JaxbenchLstmWorkspaceBytes(int64_t t, int64_t n, int64_t i, int64_t h) {
  return static_cast<int64_t>(LstmFwdPd(DescribeLstm(t, n, i, h)).workspace_desc().get_size());
}

ffi::Error LstmFwdImpl(F32 x, F32 h0, F32 c0, F32 wl, F32 wi, F32 b, F32Ret y, F32Ret h_t,
                       F32Ret c_t, ffi::ResultBuffer<ffi::U8> ws) {
  auto xd = x.dimensions(), hd = h0.dimensions();
  LstmDescs m = DescribeLstm(xd[0], xd[1], xd[2], hd[1]);
  auto pd = LstmFwdPd(m);
  if (pd.workspace_desc().get_size() != ws->size_bytes())
    return ffi::Error(ffi::ErrorCode::kInternal, "LSTM workspace size mismatch");
  dnnl::stream s(Engine());
  dnnl::memory wl_m = Reordered(s, pd.weights_layer_desc(), m.wl_user, wl.typed_data());
  dnnl::memory wi_m = Reordered(s, pd.weights_iter_desc(), m.wi_user, wi.typed_data());
  dnnl::lstm_forward(pd).execute(
      s, LstmArgs(m, pd.workspace_desc(), x.typed_data(), h0.typed_data(), c0.typed_data(), wl_m,
                  wi_m, b.typed_data(), y->typed_data(), h_t->typed_data(), c_t->typed_data(),
                  ws->typed_data()));
  s.wait();
  return ffi::Error::Success();
}

ffi::Error LstmBwdImpl(F32 x, F32 h0, F32 c0, F32 wl, F32 wi, F32 b, F32 y, F32 h_t, F32 c_t,
                       ffi::Buffer<ffi::U8> ws, F32 dy, F32 dh_t, F32 dc_t, F32Ret dx, F32Ret dh0,
                       F32Ret dc0, F32Ret dwl, F32Ret dwi, F32Ret db) {
  auto xd = x.dimensions(), hd = h0.dimensions();
  LstmDescs m = DescribeLstm(xd[0], xd[1], xd[2], hd[1]);
  auto fwd_pd = LstmFwdPd(m);
  dnnl::lstm_backward::desc d(
      dnnl::prop_kind::backward, dnnl::rnn_direction::unidirectional_left2right, m.src, m.state,
      m.state, m.wl_any, m.wi_any, m.bias, m.dst, m.state, m.state, m.src, m.state, m.state,
      m.wl_any, m.wi_any, m.bias, m.dst, m.state, m.state);
  dnnl::lstm_backward::primitive_desc pd(d, Engine(), fwd_pd);
  dnnl::stream s(Engine());
  dnnl::memory wl_m = Reordered(s, pd.weights_layer_desc(), m.wl_user, wl.typed_data());
  dnnl::memory wi_m = Reordered(s, pd.weights_iter_desc(), m.wi_user, wi.typed_data());
  // oneDNN accumulates into the weight and bias gradients: they start at zero.
  dnnl::memory dwl_m(pd.diff_weights_layer_desc(), Engine());
  dnnl::memory dwi_m(pd.diff_weights_iter_desc(), Engine());
  std::memset(dwl_m.get_data_handle(), 0, pd.diff_weights_layer_desc().get_size());
  std::memset(dwi_m.get_data_handle(), 0, pd.diff_weights_iter_desc().get_size());
  std::memset(db->typed_data(), 0, db->size_bytes());
  auto args = LstmArgs(m, pd.workspace_desc(), x.typed_data(), h0.typed_data(),
                       c0.typed_data(), wl_m, wi_m, b.typed_data(), y.typed_data(),
                       h_t.typed_data(), c_t.typed_data(), ws.typed_data());
  args.insert({{DNNL_ARG_DIFF_SRC_LAYER, Wrap(m.src, dx->typed_data())},
               {DNNL_ARG_DIFF_SRC_ITER, Wrap(m.state, dh0->typed_data())},
               {DNNL_ARG_DIFF_SRC_ITER_C, Wrap(m.state, dc0->typed_data())},
               {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl_m}, {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi_m},
               {DNNL_ARG_DIFF_BIAS, Wrap(m.bias, db->typed_data())},
               {DNNL_ARG_DIFF_DST_LAYER, Wrap(m.dst, dy.typed_data())},
               {DNNL_ARG_DIFF_DST_ITER, Wrap(m.state, dh_t.typed_data())},
               {DNNL_ARG_DIFF_DST_ITER_C, Wrap(m.state, dc_t.typed_data())}});
  dnnl::lstm_backward(pd).execute(s, args);
  dnnl::memory dwl_user = Wrap(m.wl_user, dwl->typed_data());
  dnnl::memory dwi_user = Wrap(m.wi_user, dwi->typed_data());
  dnnl::reorder(dwl_m, dwl_user).execute(s, dwl_m, dwl_user);
  dnnl::reorder(dwi_m, dwi_user).execute(s, dwi_m, dwi_user);
  s.wait();
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(LstmFwd, LstmFwdImpl,
    ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()
        .Ret<F32>().Ret<F32>().Ret<F32>().Ret<ffi::Buffer<ffi::U8>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(LstmBwd, LstmBwdImpl,
    ffi::Ffi::Bind().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()
        .Arg<F32>().Arg<F32>().Arg<F32>().Arg<ffi::Buffer<ffi::U8>>().Arg<F32>().Arg<F32>()
        .Arg<F32>().Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>());

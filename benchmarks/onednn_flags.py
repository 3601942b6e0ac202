"""Does this jaxlib hand convolutions or dots to oneDNN? Prints the optimized HLO's conv/dot ops.

jaxlib 0.10.2 links oneDNN (its strings list oneDNN kernels) and parses
--xla_cpu_use_onednn, --xla_cpu_experimental_onednn_custom_call and
--xla_cpu_experimental_onednn_fusion_type (values: dot, eltwise, individual_convolution,
individual_dot, reduce), but with every combination the compiled program still has plain
`convolution` / YNNPACK ops and no `__onednn` call: XLA's oneDNN rewriter is built only under
INTEL_MKL (xla/service/cpu/onednn_contraction_rewriter.cc), which this build is not.

  XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \
    --xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=individual_convolution,dot" \
    python benchmarks/onednn_flags.py
"""
import jax
import jax.numpy as jnp
from jax import lax


def main():
  x, k = jnp.ones((128, 14, 14, 32)), jnp.ones((5, 5, 32, 64))
  w = jnp.ones((3136, 1024))

  def loss(x, k, w):
    y = lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum((y.reshape(128, -1)[:, :3136] @ w) ** 2)

  text = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(x, k, w).compile().as_text()
  ops = [line.split("=", 1)[1].split("(")[0].strip() for line in text.splitlines()
         if "=" in line and any(t in line for t in (" convolution(", " dot(", "custom-call",
                                                    "onednn", "ynn_fusion = ", "kCustom"))]
  print("oneDNN in the program:", any("onednn" in line.lower() for line in text.splitlines()))
  print("conv/dot/custom ops:", sorted(set(ops)))


if __name__ == "__main__":
  main()

"""The PyTorch baseline of `jaxbench bench --torch` (optional: needs the `torch` extra).

`torch_models` holds the SPEC section 1 architectures in PyTorch, `torch_loop` the plain
zero_grad / forward / backward / step loop that is timed against jaxbench. Nothing here is
imported unless the baseline is asked for, so jaxbench itself never needs PyTorch.
"""

"""The run layer: RunSpecs in, DeepOBS records out (loop, records, checkpoints).

Data flows config -> RunSpec -> (protocol driver) -> loop -> records; this package builds on
`jaxbench.train` (the compiled engine) and never imports `jaxbench.config`.
"""

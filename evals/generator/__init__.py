"""Realistic EKS worker-node log bundles (eks-log-collector 0.7.9 layout) with known ground truth.

Used by tool tests, eval cases, `make demo` and the benchmark: `write_bundle(BundleSpec(...), dir)`.
"""

from evals.generator.spec import BundleSpec, GroundTruth, Kernel, Scenario
from evals.generator.writer import GeneratedBundle, GeneratorError, write_bundle

__all__ = ["BundleSpec", "GeneratedBundle", "GeneratorError", "GroundTruth", "Kernel", "Scenario", "write_bundle"]

"""Pure parsers for the text files of an EKS node log bundle.

Each parser takes lines or a string (never a path) and returns pydantic models, so the bundle
backends decide how files are read (directory, tarball, S3) and the parsers stay testable on
literal samples. Inputs that can be large are streamed. Parsers never raise on odd input: a line
they do not understand is skipped (or returns None), because a bundle is evidence as found, not a
contract.
"""

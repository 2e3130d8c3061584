"""The AWS backend: collect a node's bundle with SSM Automation, fetch it from S3, check the fleet.

Only `config` is light to import; `backend` imports boto3 inside functions so that loading
`tools` at CLI start-up never pays for botocore.
"""

"""Scripts that run the workflow on SageMaker in a real AWS account (see cloud/README.md)."""

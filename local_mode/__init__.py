"""SageMaker local mode on the project's images: the whole workflow on one machine, offline."""

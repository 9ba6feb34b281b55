"""The project's data on the host: MNIST's four files (data/mnist) and the module that finds them."""

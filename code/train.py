"""The training image's built-in trainer, as the SageMaker training toolkit runs it (script mode):
`python train.py --hyperparameter value ...` with the job's layout in SM_* environment variables.
Outside SageMaker: `python code/train.py --train DIR --test DIR --model-dir DIR --output-data-dir DIR`.
"""
from sagemaker_mnist import trainer

if __name__ == "__main__":
    trainer.main()

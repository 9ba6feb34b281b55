"""What a finished training job leaves (rank 0): the model artifact (sagemaker_mnist.artifacts) in
the model directory and the evaluation report (sagemaker_mnist.report) in the output data
directory. A folder that cannot be written fails the job with one line (failures.cannot_write)."""
import math

from sagemaker_mnist import artifacts, failures, kinds, report


def write(settings, cluster, model, config, dataset, history, predictions, train_samples, printed_splits=None,
          validation_predictions=None, fine_tuned_from=None):
    """Writes the artifact of `model` (architecture `config`) and the report of the run's `history`,
    with the test set's `predictions` (numpy), the validation digits' (numpy, with validation
    digits), with printed digits the kinds' part, and the model it was fine-tuned from (its name)."""
    test = dataset.test
    try:
        artifacts.write(settings.model_dir, model, config)
    except OSError as e:
        raise failures.cannot_write(e.filename or settings.model_dir, e) from None
    final = history[-1] if history else {}
    summary = {k: v for k, v in final.items() if k not in ("epoch", "epoch_seconds")}
    summary.update(
        hyperparameters=settings.hp.as_dict(),
        device=str(cluster.device),
        world_size=cluster.world_size,
        train_samples=train_samples,
        test_samples=len(test),
        validation_samples=len(dataset.validation) if dataset.validation else 0,
        data={"train": dataset.train.source, "test": test.source},
    )
    if dataset.validation is not None:
        summary["data"]["validation"] = dataset.validation.source
    if fine_tuned_from is not None:
        summary["fine_tuned_from"] = fine_tuned_from
    validation = None
    if validation_predictions is not None:
        validation = {"labels": dataset.validation.labels.numpy(), "predictions": validation_predictions,
                      "source": dataset.validation.source}
    printed_part = None
    if printed_splits is not None:
        printed_part = kinds.report_part(model, test, printed_splits, settings.hp.eval_batch_size, cluster.device)
        summary["data"]["printed"] = printed_splits.train.source
    try:
        report.write(settings.output_data_dir, summary, history, test.images.numpy(), test.labels.numpy(),
                     predictions, printed_part, validation)
    except OSError as e:
        raise failures.cannot_write(e.filename or settings.output_data_dir, e) from None
    print("saved the model to %s and the evaluation report to %s: test accuracy %.4f"
          % (settings.model_dir, settings.output_data_dir, final.get("test_accuracy", math.nan)), flush=True)

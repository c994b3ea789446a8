"""moto's server mode, with EMR steps that move.

moto accepts EMR steps but never runs them: the first stays RUNNING and the rest
PENDING forever. To test `rsync --wait`, this launcher (used only by the tests)
advances a step one state per DescribeStep call, PENDING -> RUNNING -> COMPLETED, in
order; a step whose name contains ".fail" (or a copy step whose name contains
".copyfails", a multipartlist step one with ".mlistfails") ends FAILED with FailureDetails, and the steps after it are CANCELLED, as
EMR does with ActionOnFailure CANCEL_AND_WAIT; after a failed step with ActionOnFailure
CONTINUE the next step runs, as on EMR.
Everything else is moto as released. Usage: python moto_emr_steps.py -H HOST -p PORT
"""

import sys

from moto.emr import models
from moto.server import main

_NEXT = {"PENDING": "RUNNING", "RUNNING": "COMPLETED"}
_original_describe = models.ElasticMapReduceBackend.describe_step
_original_status = models.Step.status.fget


def _fails(name):
    """A step named with `.fail` fails; with `.copyfails` or `.mlistfails`, only the
    copy or the multipartlist step."""
    return ".fail" in name or any(
        name.startswith(step + ".") and ("." + step + "fails") in name
        for step in ("copy", "mlist")
    )


def _cancels(step):
    """A step that cancels the steps after it: cancelled itself, or failed without
    ActionOnFailure CONTINUE."""
    return step.state == "CANCELLED" or (
        step.state == "FAILED" and step.action_on_failure != "CONTINUE"
    )


def _done(step):
    """A step after which the next one may run."""
    return step.state == "COMPLETED" or (
        step.state == "FAILED" and step.action_on_failure == "CONTINUE"
    )


def _describe_step(self, cluster_id, step_id):
    step = _original_describe(self, cluster_id, step_id)
    if step is None:
        return step
    steps = self.clusters[cluster_id].steps
    index = steps.index(step)
    earlier = steps[:index]
    if any(_cancels(s) for s in earlier):
        step.state = "CANCELLED"
    elif all(_done(s) for s in earlier) and step.state in _NEXT:
        if step.state == "RUNNING" and _fails(step.name):
            step.state = "FAILED"
            step.failure_details = {
                "Reason": "Task failed",
                "Message": "Job failed as tasks failed. failedMaps:1",
                "LogFile": "s3://codebucket/log/jobflow/steps/%s/stderr.gz" % step.id,
            }
        else:
            step.state = _NEXT[step.state]
    return step


def _status(self):
    status = _original_status(self)
    details = getattr(self, "failure_details", None)
    if details:
        status["FailureDetails"] = details
    return status


models.ElasticMapReduceBackend.describe_step = _describe_step
models.Step.status = property(_status)

if __name__ == "__main__":
    main(sys.argv[1:])

"""moto's server mode, with EMR steps that move.

moto accepts EMR steps but never runs them: the first stays RUNNING and the rest
PENDING forever. To test `rsync --wait`, this launcher (used only by the tests)
advances a step one state per DescribeStep call, PENDING -> RUNNING -> COMPLETED, in
order; a step whose name contains ".fail" ends FAILED with FailureDetails, and the
steps after it are CANCELLED, as EMR does with ActionOnFailure CANCEL_AND_WAIT.
Everything else is moto as released. Usage: python moto_emr_steps.py -H HOST -p PORT
"""

import sys

from moto.emr import models
from moto.server import main

_NEXT = {"PENDING": "RUNNING", "RUNNING": "COMPLETED"}
_original_describe = models.ElasticMapReduceBackend.describe_step
_original_status = models.Step.status.fget


def _describe_step(self, cluster_id, step_id):
    step = _original_describe(self, cluster_id, step_id)
    if step is None:
        return step
    steps = self.clusters[cluster_id].steps
    index = steps.index(step)
    earlier = steps[:index]
    if any(s.state in ("FAILED", "CANCELLED") for s in earlier):
        step.state = "CANCELLED"
    elif all(s.state == "COMPLETED" for s in earlier) and step.state in _NEXT:
        if step.state == "RUNNING" and ".fail" in step.name:
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

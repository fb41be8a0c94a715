"""What kwok simulates: one node, and pods that run, then succeed or fail on demand.

kwok changes the status of nodes and pods according to Stage objects: each has
a selector on the object and a status template that becomes the next status.
The stages below make every pod bound to the simulated node Running, then end
it according to annotations that a test or a developer sets on the pod (the
Kubernetes executor copies them from the job spec):

| annotation | effect |
| --- | --- |
| `custody.io/simulate` | `succeed` (default), `fail`, or `hold` (stay Running until the annotation changes) |
| `custody.io/simulate-exit-code` | exit code of a failing container (default 1) |
| `custody.io/simulate-message` | termination message of every container, as a runner would write it |
| `custody.io/simulate-delay` | time spent Running before the pod ends, a Go duration such as `2s` (default 300ms) |

The Job controller then sees real pod phases and moves the Job to Complete or
Failed itself, applying `backoffLimit` and `activeDeadlineSeconds`.

The stage format and template functions (`Now`, `Quote`, `NodeConditions`,
`NodeIP`, `NodeName`, `PodIPWith`) are those of kwok v0.8.0.
"""

from __future__ import annotations

from typing import Any

import yaml

NODE_NAME = "custody-kwok-node-0"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
NODE_ANNOTATION_VALUE = "fake"

SIMULATE = "custody.io/simulate"
SIMULATE_EXIT_CODE = "custody.io/simulate-exit-code"
SIMULATE_MESSAGE = "custody.io/simulate-message"
SIMULATE_DELAY = "custody.io/simulate-delay"
SIMULATE_OUTCOMES = ("succeed", "fail", "hold")
DEFAULT_DELAY_MS = 300


def _stage(name: str, kind: str, selector: list[dict[str, Any]], template: str, *, delay_ms: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": selector},
        "next": {"statusTemplate": template},
    }
    if delay_ms is not None:
        spec["delay"] = {
            "durationMilliseconds": delay_ms,
            "durationFrom": {"expressionFrom": f'.metadata.annotations["{SIMULATE_DELAY}"]'},
        }
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": name}, "spec": spec}


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expression["values"] = list(values)
    return expression


NOT_DELETED = _expr(".metadata.deletionTimestamp", "DoesNotExist")
READY_STATUS = '.status.conditions.[] | select( .type == "Ready" ) | .status'

# A node becomes Ready with the standard conditions and keeps the capacity it
# was created with; kwok renews its lease, which is the heartbeat the node
# lifecycle controller reads.
NODE_READY_TEMPLATE = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ NodeName | Quote }}
  type: Hostname
allocatable:
{{ YAML .status.capacity 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: ""
  kubeProxyVersion: ""
  osImage: ""
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
"""

# Init containers end at once with exit code 0 and every container runs.
POD_RUNNING_TEMPLATE = """\
{{ $now := Now }}
conditions:
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running: {startedAt: {{ $now | Quote }}}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName false ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""


def _pod_end_template(*, phase: str, exit_code: str, reason: str) -> str:
    # Every container terminates with the same exit code and message; the
    # start times of the Running stage are kept.
    return (
        """\
{{ $now := Now }}
{{ $annotations := or .metadata.annotations dict }}
{{ $message := or ( index $annotations "%(message)s" ) "" }}
{{ $root := . }}
conditions:
- {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: %(exit_code)s
      reason: %(reason)s
      message: {{ $message | Quote }}
      startedAt: {{ or $root.status.startTime $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: %(phase)s
"""
        % {"message": SIMULATE_MESSAGE, "exit_code": exit_code, "reason": reason, "phase": phase}
    )


def stages() -> list[dict[str, Any]]:
    """Return the Stage objects kwok runs with, in no particular order."""
    annotation = f'.metadata.annotations["{SIMULATE}"]'
    running = [NOT_DELETED, _expr(".status.phase", "In", "Running")]
    failing_exit_code = f'{{{{ or ( index $annotations "{SIMULATE_EXIT_CODE}" ) "1" }}}}'
    return [
        _stage("custody-node-ready", "Node", [_expr(READY_STATUS, "NotIn", "True")], NODE_READY_TEMPLATE),
        _stage(
            "custody-pod-running",
            "Pod",
            [NOT_DELETED, _expr(".status.phase", "In", "Pending"), _expr(".spec.nodeName", "Exists")],
            POD_RUNNING_TEMPLATE,
        ),
        _stage(
            "custody-pod-succeed",
            "Pod",
            [*running, _expr(annotation, "NotIn", "fail", "hold")],
            _pod_end_template(phase="Succeeded", exit_code="0", reason="Completed"),
            delay_ms=DEFAULT_DELAY_MS,
        ),
        _stage(
            "custody-pod-fail",
            "Pod",
            [*running, _expr(annotation, "In", "fail")],
            _pod_end_template(phase="Failed", exit_code=failing_exit_code, reason="Error"),
            delay_ms=DEFAULT_DELAY_MS,
        ),
        # A deleted pod is removed at once, as a kubelet would after its containers stopped.
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": "custody-pod-delete"},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {"matchExpressions": [_expr(".metadata.deletionTimestamp", "Exists")]},
                "next": {"delete": True},
            },
        },
    ]


def kwok_config_text() -> str:
    """Return the kwok `--config` file: every stage as one YAML document."""
    header = "# Written by custody.devstack.kube_stages on every start; edits are overwritten.\n"
    return header + yaml.safe_dump_all(stages(), sort_keys=False)


def node_manifest(*, cpu: str = "32", memory: str = "128Gi", pods: str = "256") -> dict[str, Any]:
    """Return the simulated node. kwok manages it because of its annotation."""
    capacity = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {NODE_ANNOTATION: NODE_ANNOTATION_VALUE},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }

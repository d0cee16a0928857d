"""Where "Replica Status Changed" events go: a bus of our own, or the account's default bus."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_events as events
from constructs import Construct

DEFAULT_BUS_NAME = "default"


@dataclass(frozen=True)
class StatusEventsProps:
    # True: the account's default bus (already there, shared); False: a bus named bus_name.
    use_default_bus: bool
    bus_name: str


class StatusEvents(Construct):
    """The event bus the functions publish status changes on (``EVENT_BUS_NAME``)."""

    def __init__(self, scope: Construct, construct_id: str, props: StatusEventsProps) -> None:
        super().__init__(scope, construct_id)
        self.bus: events.IEventBus
        if props.use_default_bus:
            self.bus = events.EventBus.from_event_bus_name(self, "Bus", DEFAULT_BUS_NAME)
            self.bus_name = DEFAULT_BUS_NAME
        else:
            # Deleted with the stack whatever the removal policy: a bus stores no events, and
            # a retained one would block the next deployment under the same name.
            self.bus = events.EventBus(
                self,
                "Bus",
                event_bus_name=props.bus_name,
                description="Replica Status Changed events of replica-pipeline",
            )
            self.bus_name = props.bus_name

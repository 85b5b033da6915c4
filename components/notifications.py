"""The change topic: encrypted with the stack key, TLS only, with optional e-mail subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import deny_insecure_transport, policy_document


@dataclass(frozen=True)
class NotificationsArgs:
    topic_name: str
    kms_key_arn: pulumi.Input[str]
    emails: tuple[str, ...] = ()


class Notifications(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:notifications:Notifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{name}-topic", name=args.topic_name, kms_master_key_id=args.kms_key_arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=policy_document([deny_insecure_transport([topic.arn], principal={"AWS": "*"}, action="sns:Publish")]),
            opts=child,
        )
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(f"{name}-email-{index}", topic=topic.arn, protocol="email", endpoint=email, opts=child)
        self.topic_arn = topic.arn
        self.topic_name = args.topic_name
        self.register_outputs({"topic_arn": self.topic_arn})

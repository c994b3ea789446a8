"""Creates the s3_migration_role stack on a CloudFormation endpoint (moto on loopback)
and prints, as JSON, the role's trust policy, the actions its inline policy allows and
the stack's outputs.
Usage: python cfn_role_stack.py ENDPOINT TEMPLATE BUCKET TRUSTED_ROLE_ARN EXTERNAL_ID"""

import ast
import json
import sys
from urllib.parse import unquote

import boto3

endpoint, template, bucket, trusted, external_id = sys.argv[1:6]
session = boto3.session.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
)
cfn = session.client("cloudformation", endpoint_url=endpoint)
iam = session.client("iam", endpoint_url=endpoint)
name = f"campanile-role-{bucket}"
cfn.create_stack(
    StackName=name,
    TemplateBody=open(template).read(),
    Parameters=[
        {"ParameterKey": "Bucket", "ParameterValue": bucket},
        {"ParameterKey": "TrustedRoleArn", "ParameterValue": trusted},
        {"ParameterKey": "ExternalId", "ParameterValue": external_id},
    ],
    Capabilities=["CAPABILITY_IAM"],
)
stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
role_name = outputs["RoleArn"].rsplit("/", 1)[-1]
role = iam.get_role(RoleName=role_name)["Role"]
def document_of(value):
    """A policy document as IAM returns it: parsed, or JSON text (URL-encoded by IAM)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
        try:
            return json.loads(unquote(value))
        except json.JSONDecodeError:
            pass
        # moto keeps a role's inline policy from CloudFormation as a Python literal.
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            sys.exit(f"unreadable policy document: {value!r}")
    return value


trust = document_of(role["AssumeRolePolicyDocument"])
actions = {}
for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
    document = document_of(
        iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
    )
    for statement in document["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        listed = statement["Action"]
        listed = listed if isinstance(listed, list) else [listed]
        for resource in resources:
            actions.setdefault(resource, []).extend(listed)
print(json.dumps({"status": stack["StackStatus"], "trust": trust, "outputs": outputs, "actions": actions}))

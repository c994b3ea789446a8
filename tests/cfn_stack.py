"""Creates the s3_migration_user stack on a CloudFormation endpoint (moto on loopback)
and prints, as JSON, the user and the actions its inline policy allows.
Usage: python cfn_stack.py ENDPOINT TEMPLATE BUCKET OPERATION"""

import json
import sys

import boto3

endpoint, template, bucket, operation = sys.argv[1:5]
session = boto3.session.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
)
cfn = session.client("cloudformation", endpoint_url=endpoint)
iam = session.client("iam", endpoint_url=endpoint)
name = f"campanile-{operation.lower()}-{bucket}"
cfn.create_stack(
    StackName=name,
    TemplateBody=open(template).read(),
    Parameters=[
        {"ParameterKey": "Bucket", "ParameterValue": bucket},
        {"ParameterKey": "Operation", "ParameterValue": operation},
    ],
    Capabilities=["CAPABILITY_IAM"],
)
stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
user = outputs["UserName"]
actions = {}
for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
    document = iam.get_user_policy(UserName=user, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    for statement in document["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        listed = statement["Action"]
        listed = listed if isinstance(listed, list) else [listed]
        for resource in resources:
            actions.setdefault(resource, []).extend(listed)
print(json.dumps({"status": stack["StackStatus"], "user": user, "outputs": outputs, "actions": actions}))

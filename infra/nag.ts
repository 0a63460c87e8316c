// cdk-nag's AwsSolutions and Serverless packs as CDK policy-validation plugins: synthesis fails on an
// unacknowledged error. Findings kept on purpose are acknowledged where the resource is made, with
// the reason (docs/architecture.md, "cdk-nag").
import { type App, type CfnElement, Stack, Token, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** Registers both packs on the app and returns them, so a test can also run them directly (`validateScope`). */
export function addNagChecks(app: App): readonly NagPack[] {
  const packs = [new AwsSolutionsChecks(app), new ServerlessChecks(app)];
  Validations.of(app).addPlugins(...packs);
  return packs;
}

/** Acknowledges the findings `ids` on `scope` and everything under it, for one reason. */
export function acknowledge(scope: IConstruct, reason: string, ...ids: readonly string[]): void {
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}

/** How cdk-nag writes a reference to `construct` in an IAM5 finding id: `<LogicalId>`, or `<LogicalId.Attr>`. */
export function nagRef(construct: IConstruct, attribute?: string): string {
  const cfn = construct.node.defaultChild as CfnElement | undefined;
  if (!cfn) throw new Error(`${construct.node.path} has no CloudFormation resource to reference`);
  return `<${Stack.of(construct).getLogicalId(cfn)}${attribute ? `.${attribute}` : ''}>`;
}

/**
 * How cdk-nag writes the stack's region or account in a finding id: `<AWS::Region>` for an
 * environment-agnostic stack, the literal (`eu-west-1`) once `-c region=…` or the CLI's
 * CDK_DEFAULT_REGION pins it. An acknowledgement written with the placeholder would not match then.
 */
export function nagPseudo(scope: IConstruct, which: 'Region' | 'AccountId'): string {
  const stack = Stack.of(scope);
  const value = which === 'Region' ? stack.region : stack.account;
  return Token.isUnresolved(value) ? `<AWS::${which}>` : value;
}

// The pages: the built folder in a private S3 bucket behind CloudFront, with /config.json written at
// deploy time from the API stack's URLs (the pages read it to find the HTTP and WebSocket APIs).
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  Function as CloudFrontFunction,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  HttpVersion,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';

export interface WebStackProps extends StackProps {
  /** The folder `buildWeb` wrote. */
  readonly webDir: string;
  /** The HTTP API's URL (the pages call it across origins; its CORS allows them). */
  readonly apiUrl: string;
  /** The WebSocket stage's wss:// URL. */
  readonly wsUrl: string;
}

/**
 * `/live/{id}`, `/report/{id}` and `/replay/{id}` are one HTML shell each; the viewer-request function
 * maps the path to the shell's object, so the event id stays in the address for the page to read.
 */
export const PAGE_REWRITE = `function handler(event) {
  var request = event.request;
  var page = request.uri.match(/^\\/(live|report|replay)\\/[^\\/]+\\/?$/);
  if (page) request.uri = '/' + page[1] + '/index.html';
  return request;
}`;

export class WebStack extends Stack {
  readonly bucket: Bucket;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: WebStackProps) {
    super(scope, id, props);

    // Built from the repository on every deploy: nothing in it is worth keeping when the stack goes.
    this.bucket = new Bucket(this, 'Pages', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });

    const rewrite = new CloudFrontFunction(this, 'PageRewrite', {
      code: FunctionCode.fromInline(PAGE_REWRITE),
      runtime: FunctionRuntime.JS_2_0,
      comment: 'livecast: /live|report|replay/{eventId} -> the page shell',
    });

    const origin = S3BucketOrigin.withOriginAccessControl(this.bucket);
    this.distribution = new Distribution(this, 'Cdn', {
      comment: 'livecast pages',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: true,
        functionAssociations: [{ function: rewrite, eventType: FunctionEventType.VIEWER_REQUEST }],
      },
      additionalBehaviors: {
        // Where the APIs are: never served stale after a redeploy moved them.
        '/config.json': {
          origin,
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          responseHeadersPolicy: ResponseHeadersPolicy.SECURITY_HEADERS,
        },
      },
    });

    // Two uploads to one bucket, so each kind of file gets its caching; neither prunes the other's
    // files (old hashed assets stay behind: a page still open from before a deploy keeps working).
    new BucketDeployment(this, 'DeployAssets', {
      sources: [Source.asset(props.webDir)],
      exclude: ['*'],
      include: ['assets/*'],
      destinationBucket: this.bucket,
      prune: false,
      // Content-hashed names (web/build.ts): a name never gets other content.
      cacheControl: [CacheControl.fromString('public, max-age=31536000, immutable')],
      memoryLimit: 256,
    });
    new BucketDeployment(this, 'DeployPages', {
      sources: [Source.asset(props.webDir), Source.jsonData('config.json', { apiUrl: props.apiUrl, wsUrl: props.wsUrl })],
      exclude: ['assets/*'],
      destinationBucket: this.bucket,
      prune: false,
      // The shells and config.json: revalidated by browsers; the CDN's copies replaced at once.
      cacheControl: [CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
    });

    new CfnOutput(this, 'PagesUrl', {
      value: `https://${this.distribution.distributionDomainName}`,
      description: 'the pages: /live/{eventId}, /report/{eventId}#token=…, /replay/{eventId}',
    });
  }
}

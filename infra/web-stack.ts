// The pages: the built folder in a private S3 bucket behind CloudFront, with /config.json written at
// deploy time from the API stack's URLs (the pages read it to find the HTTP and WebSocket APIs).
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  Function as CloudFrontFunction,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  OriginProtocolPolicy,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  SSLMethod,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { acknowledge, nagPseudo, nagRef } from './nag';
import { imagesBaseUrlParameter, type WebDomain } from './stages';
import { IMAGES_PREFIX } from '../shared/domain/images';
import { PAGE_FRAME_ANCESTORS } from '../shared/config';

export interface WebStackProps extends StackProps {
  /** The folder `buildWeb` wrote. */
  readonly webDir: string;
  /** The HTTP API's URL (the pages call it across origins; its CORS allows them). */
  readonly apiUrl: string;
  /** The WebSocket stage's wss:// URL. */
  readonly wsUrl: string;
  /**
   * The only origins the pages may connect to besides their own: the HTTP API's `https://…` and the
   * WebSocket API's `wss://…` (scheme and host, no path). The CSP's connect-src names these.
   */
  readonly apiOrigins: readonly string[];
  /** An alias for the distribution, with its certificate (which CloudFront reads from us-east-1 only). */
  readonly domain?: WebDomain;
  /** The photos' bucket (the Data stack's): its `images/` prefix is served at `/images/*`. */
  readonly images: IBucket;
  /** The stage's name: where the photos' base URL is written for the functions (infra/stages.ts). */
  readonly stage: string;
  /** The HTTP API's host name (no scheme): the origin of feeds and snapshots (API_PATHS, crawlers on /live). */
  readonly apiHost: string;
  /**
   * The sites that may frame `/embed/*` (checked CSP sources: shared/config.ts parseFrameAncestors).
   * Every other path may be framed by the pages' own origin only. @default `'self'`
   */
  readonly embedAncestors?: readonly string[];
}

/**
 * The pages' Content-Security-Policy as CloudFront sends it. The shells' own meta policy
 * (web/build.ts) is written before any API exists, so its connect-src allows any https:/wss:
 * origin; a browser enforces every policy a page has, so this header is what narrows connect-src
 * to the deployed APIs and the photos' bucket. The other directives repeat the meta policy's.
 * `uploadOrigins` come from the stack itself (the bucket's regional endpoint, a token until deploy),
 * so they are not checked like the API origins handed in.
 */
export function pagesCsp(
  apiOrigins: readonly string[],
  uploadOrigins: readonly string[] = [],
  frameAncestors: readonly string[] = PAGE_FRAME_ANCESTORS,
): string {
  for (const origin of apiOrigins) {
    if (!/^(https|wss):\/\/[^\s/;,'*]+$/.test(origin)) {
      throw new Error(
        `API origin ${JSON.stringify(origin)}: expected https://host or wss://host (no path, no wildcard)`,
      );
    }
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    // blob: the console's previews of photos before upload; the photos themselves are on this origin.
    "img-src 'self' data: blob:",
    // The upload origins: the console POSTs a photo's bytes straight to the bucket (presigned).
    `connect-src 'self' ${[...apiOrigins, ...uploadOrigins].join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    // Who may show the page in a frame (a <meta> policy cannot say this; only the header can).
    `frame-ancestors ${frameAncestors.join(' ')}`,
  ].join('; ');
}

/**
 * Search engines' crawlers and the link-preview bots of social networks and chat apps: programs that
 * read a page's HTML and run none of its script, so the live page's shell shows them nothing. Named
 * one by one — never a bare "bot", which a phone's user agent may contain (CUBOT) and would shut a
 * person out of the live page.
 */
export const CRAWLER_AGENTS =
  'googlebot|google-inspectiontool|googleother|bingbot|baiduspider|yandex(?:bot|images)|duckduckbot|sogou|360spider|bytespider|petalbot|applebot|slurp|' +
  'facebookexternalhit|facebot|twitterbot|linkedinbot|slackbot|discordbot|telegrambot|whatsapp|skypeuripreview|pinterestbot|redditbot|embedly|mastodon|iframely';

/** The id of the HTTP API origin on the distribution: what the page function switches a crawler to. */
export const API_ORIGIN_ID = 'livecast-api';

/**
 * `/live/{id}`, `/report/{id}` and `/replay/{id}` are one HTML shell each; the viewer-request function
 * maps the path to the shell's object, so the event id stays in the address for the page to read.
 * A crawler asking for `/live/{id}` gets the event's static snapshot instead (the HTTP API's
 * `GET /events/{id}/snapshot`, the origin switched with CloudFront's `cf.selectRequestOriginById`),
 * at the address it was given: the Open Graph tags and JSON-LD are on the URL people share. The
 * rewritten path is part of the cache key, so people and crawlers never get each other's copy.
 * The body without its `import`, so tests can run it with a stand-in for `cf`.
 */
export const PAGE_REWRITE_BODY = `var CRAWLER = /${CRAWLER_AGENTS}/i;
function handler(event) {
  var request = event.request;
  if (/^\\/organiser\\/?$/.test(request.uri)) {
    request.uri = '/organiser/index.html';
    return request;
  }
  var page = request.uri.match(/^\\/(live|report|replay|embed)\\/([^\\/]+)\\/?$/);
  if (!page) return request;
  var agent = request.headers['user-agent'];
  if (page[1] === 'live' && agent && CRAWLER.test(agent.value)) {
    request.uri = '/events/' + page[2] + '/snapshot';
    cf.selectRequestOriginById('${API_ORIGIN_ID}');
    return request;
  }
  request.uri = '/' + page[1] + '/index.html';
  return request;
}`;
export const PAGE_REWRITE = `import cf from 'cloudfront';\n${PAGE_REWRITE_BODY}`;

/** The API's answers the CDN serves on the pages' origin: feeds (their self links) and snapshots. */
export const API_PATHS = ['/events/*/feed.json', '/events/*/feed.atom', '/events/*/snapshot'] as const;

export class WebStack extends Stack {
  readonly bucket: Bucket;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: WebStackProps) {
    super(scope, id, props);
    this.bucket = this.pagesBucket();
    const rewrite = new CloudFrontFunction(this, 'PageRewrite', {
      code: FunctionCode.fromInline(PAGE_REWRITE),
      runtime: FunctionRuntime.JS_2_0,
      comment:
        'livecast: /live|report|replay|embed/{eventId}, /organiser -> the page shell; crawlers on /live -> the snapshot',
    });
    this.distribution = this.cdn(props, rewrite);
    acknowledgeDistribution(this.distribution, props);
    this.deployPages(props);
    this.acknowledgeDeploymentProvider();
    // The functions that answer a photo's URL read it here (the API stack deploys before this one).
    new StringParameter(this, 'ImagesBaseUrl', {
      parameterName: imagesBaseUrlParameter(props.stage),
      stringValue: `https://${props.domain?.domain ?? this.distribution.distributionDomainName}`,
      description: 'livecast: where published photos are served (images/*); read by the functions that publish them',
    });

    if (props.domain) {
      new CfnOutput(this, 'PagesDomainTarget', {
        value: this.distribution.distributionDomainName,
        description: `DNS: ${props.domain.domain} CNAME <this> (or a Route 53 alias)`,
      });
    }
    new CfnOutput(this, 'PagesUrl', {
      value: `https://${props.domain?.domain ?? this.distribution.distributionDomainName}`,
      description:
        'the pages: /organiser, /live/{eventId}, /report/{eventId}#token=…, /replay/{eventId}, /embed/{eventId}',
    });
  }

  /** The pages' bucket, reached only through CloudFront. */
  private pagesBucket(): Bucket {
    // Built from the repository on every deploy: nothing in it is worth keeping when the stack goes.
    const bucket = new Bucket(this, 'Pages', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    acknowledge(
      bucket,
      "Reached only by CloudFront (origin access control, public access blocked); the requests are the distribution's to log.",
      'AwsSolutions-S1',
    );

    return bucket;
  }

  /** The distribution: the page shells, config.json, photos, the API's feeds and snapshots, the embed. */
  private cdn(props: WebStackProps, rewrite: CloudFrontFunction): Distribution {
    const { headers, embedHeaders } = this.headerPolicies(props);
    const origin = S3BucketOrigin.withOriginAccessControl(this.bucket);
    const api = new HttpOrigin(props.apiHost, {
      originId: API_ORIGIN_ID,
      protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
    });
    // The API's own Cache-Control decides (feeds and snapshots: 60 s; errors: no-store); nothing
    // from the viewer but the path is in the key or sent on (no query strings on these routes).
    const apiReads = new CachePolicy(this, 'ApiReads', {
      comment: "livecast feeds and snapshots: as the API's Cache-Control says",
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(0),
      maxTtl: Duration.hours(1),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
    const apiBehavior = {
      origin: api,
      viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
      cachePolicy: apiReads,
      // The pages' security headers on every behavior (a snapshot runs nothing; the pages' CSP fits it).
      responseHeadersPolicy: headers,
      compress: true,
    };
    return new Distribution(this, 'Cdn', {
      comment: 'livecast pages',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      ...(props.domain
        ? {
            domainNames: [props.domain.domain],
            certificate: Certificate.fromCertificateArn(this, 'Certificate', props.domain.certificateArn),
            // SNI only (no dedicated IPs, which cost $600 a month); TLS 1.2 and newer.
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
            sslSupportMethod: SSLMethod.SNI,
          }
        : {}),
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
        functionAssociations: [{ function: rewrite, eventType: FunctionEventType.VIEWER_REQUEST }],
      },
      additionalBehaviors: {
        // Where the APIs are: never served stale after a redeploy moved them.
        '/config.json': {
          origin,
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          responseHeadersPolicy: headers,
        },
        // Published photos, on the pages' own origin (their CSP's img-src 'self'). Image keys are never
        // reused: cached as long as CloudFront will (the objects say immutable, a year).
        [`/${IMAGES_PREFIX}*`]: {
          // The bucket is the Data stack's: its policy (infra/stateful-stack.ts) admits CloudFront to
          // images/ only; CDK cannot add this distribution's statement to another stack's bucket.
          origin: S3BucketOrigin.withOriginAccessControl(
            Bucket.fromBucketAttributes(this, 'ImagesBucket', {
              bucketArn: props.images.bucketArn,
              bucketRegionalDomainName: props.images.bucketRegionalDomainName,
            }),
          ),
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
          cachePolicy: CachePolicy.CACHING_OPTIMIZED,
          responseHeadersPolicy: headers,
          // JPEG, PNG and WebP are compressed already.
          compress: false,
        },
        ...Object.fromEntries(API_PATHS.map((path) => [path, apiBehavior])),
        // The embed's shell: as the default behavior, with its own framing headers.
        '/embed/*': {
          origin,
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
          cachePolicy: CachePolicy.CACHING_OPTIMIZED,
          responseHeadersPolicy: embedHeaders,
          compress: true,
          functionAssociations: [{ function: rewrite, eventType: FunctionEventType.VIEWER_REQUEST }],
        },
      },
    });
  }

  /** The pages' security headers, and the embed's, which differ in who may frame them. */
  private headerPolicies(props: WebStackProps) {
    // CloudFront's managed SecurityHeadersPolicy, plus the CSP that names the API origins.
    const headers = new ResponseHeadersPolicy(this, 'PageHeaders', {
      comment: 'livecast pages: security headers, CSP connect-src limited to the livecast APIs',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: pagesCsp(props.apiOrigins, [`https://${props.images.bucketRegionalDomainName}`]),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.SAMEORIGIN, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
      },
    });

    // The embed: the same headers but for who may frame it — the sites the stage names (CSP
    // frame-ancestors), and no X-Frame-Options, which knows no list of sites (SAMEORIGIN would refuse
    // them all in a browser that reads it).
    const embedAncestors = props.embedAncestors ?? PAGE_FRAME_ANCESTORS;
    const embedHeaders = new ResponseHeadersPolicy(this, 'EmbedHeaders', {
      comment: "livecast /embed/*: the pages' headers, framed by the configured sites only",
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: pagesCsp(
            props.apiOrigins,
            [`https://${props.images.bucketRegionalDomainName}`],
            embedAncestors,
          ),
          override: true,
        },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
      },
    });

    return { headers, embedHeaders };
  }

  private deployPages(props: WebStackProps): void {
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
      sources: [
        Source.asset(props.webDir),
        Source.jsonData('config.json', { apiUrl: props.apiUrl, wsUrl: props.wsUrl }),
      ],
      exclude: ['assets/*'],
      destinationBucket: this.bucket,
      prune: false,
      // The shells and config.json: revalidated by browsers; the CDN's copies replaced at once.
      cacheControl: [CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 256,
    });
  }

  private acknowledgeDeploymentProvider(): void {
    // BucketDeployment's provider function and role are CDK's own singleton: its runtime and grants are
    // CDK's to choose (read the asset bucket, write and invalidate ours), not settings of this stack.
    const provider = this.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!provider) throw new Error("BucketDeployment's provider function not found");
    const providerReason =
      "CDK's own BucketDeployment provider: its runtime and grants (copy from the asset bucket, write ours, invalidate the CDN) are CDK's.";
    acknowledge(
      provider,
      providerReason,
      'AwsSolutions-L1',
      'Serverless-LambdaLatestVersion',
      'Serverless-LambdaDLQ',
      'Serverless-LambdaTracing',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AwsSolutions-IAM5[Resource::*]',
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map(
        (a) => `AwsSolutions-IAM5[Action::${a}]`,
      ),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${nagPseudo(this, 'AccountId')}-${nagPseudo(this, 'Region')}/*]`,
      `AwsSolutions-IAM5[Resource::${nagRef(this.bucket, 'Arn')}/*]`,
    );
  }
}

function acknowledgeDistribution(distribution: Distribution, props: WebStackProps): void {
  // The crawlers' origin, chosen by the page function: CloudFront wants it among the distribution's
  // origins, which only a behavior puts there — the snapshot's own behavior above does.
  acknowledge(distribution, 'An event is announced to the public: anyone anywhere may follow it.', 'AwsSolutions-CFR1');
  acknowledge(
    distribution,
    'issue 12: WAF (a rate-based rule per address, docs/security.md "Left open").',
    'AwsSolutions-CFR2',
  );
  acknowledge(
    distribution,
    "issue 12: access logs (the pages are public files; callers are the API stages' to log first).",
    'AwsSolutions-CFR3',
  );
  if (!props.domain) {
    acknowledge(
      distribution,
      'No custom domain: with the default *.cloudfront.net certificate CloudFront sets the TLS policy itself and ignores MinimumProtocolVersion.',
      'AwsSolutions-CFR4',
    );
  }
}

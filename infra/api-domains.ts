// Optional custom domains for the two APIs (API Gateway v2 regional domain names and their mappings),
// added to the API stack when the stage's context names them (infra/stages.ts `ApiDomains`).
import { CfnOutput } from 'aws-cdk-lib';
import {
  ApiMapping,
  DomainName,
  EndpointType,
  type HttpApi,
  type HttpStage,
  SecurityPolicy,
  type WebSocketApi,
  type WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Construct } from 'constructs';
import type { ApiDomains as ApiDomainsConfig } from './stages';

export interface ApiDomainsProps {
  readonly config: ApiDomainsConfig;
  readonly httpApi: HttpApi;
  readonly httpStage: HttpStage;
  readonly webSocketApi: WebSocketApi;
  readonly webSocketStage: WebSocketStage;
}

export class ApiDomains extends Construct {
  /** `https://api.example.com/`: what the pages' config.json names instead of the execute-api URL. */
  readonly httpUrl: string;
  /** `wss://live.example.com`: the mapping has no path key, so the stage is at the root. */
  readonly wsUrl: string;
  readonly httpOrigin: string;
  readonly wsOrigin: string;

  constructor(scope: Construct, id: string, props: ApiDomainsProps) {
    super(scope, id);
    const { config } = props;
    // Regional endpoints: the certificate is in the APIs' own region (checked in infra/stages.ts).
    const certificate = Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn);
    const domain = (name: string, domainName: string) =>
      new DomainName(this, name, {
        domainName,
        certificate,
        endpointType: EndpointType.REGIONAL,
        securityPolicy: SecurityPolicy.TLS_1_2,
      });

    const http = domain('HttpDomain', config.httpDomain);
    new ApiMapping(this, 'HttpMapping', { api: props.httpApi, domainName: http, stage: props.httpStage });
    const ws = domain('WebSocketDomain', config.wsDomain);
    new ApiMapping(this, 'WebSocketMapping', { api: props.webSocketApi, domainName: ws, stage: props.webSocketStage });

    this.httpOrigin = `https://${config.httpDomain}`;
    this.wsOrigin = `wss://${config.wsDomain}`;
    this.httpUrl = `${this.httpOrigin}/`;
    this.wsUrl = this.wsOrigin;

    // The DNS records are the operator's (the zone may live anywhere): a CNAME (or Route 53 alias) to these.
    new CfnOutput(this, 'HttpDomainTarget', {
      value: http.regionalDomainName,
      description: `DNS: ${config.httpDomain} CNAME <this>`,
    });
    new CfnOutput(this, 'WebSocketDomainTarget', {
      value: ws.regionalDomainName,
      description: `DNS: ${config.wsDomain} CNAME <this>`,
    });
  }
}

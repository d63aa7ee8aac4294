package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/jsii-runtime-go"
)

// domain puts fedgate:domainName in front of the HTTP API: the API Gateway
// domain name with the operator's certificate (fedgate:certificateArn), or
// with a DNS-validated certificate and an alias record in the operator's
// Route 53 zone (fedgate:hostedZoneId). api maps it to the default stage
// and switches the execute-api address off, so peers and users have one
// address, the one INSTANCE_URL names.
func (b *builder) domain() {
	p := b.props
	if p.DomainName == "" {
		return
	}
	var zone awsroute53.IHostedZone
	var cert awscertificatemanager.ICertificate
	if p.CertificateARN != "" {
		cert = awscertificatemanager.Certificate_FromCertificateArn(b.stack, jsii.String("Certificate"), jsii.String(p.CertificateARN))
	} else {
		zone = awsroute53.HostedZone_FromHostedZoneAttributes(b.stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
			HostedZoneId: jsii.String(p.HostedZoneID), ZoneName: jsii.String(p.HostedZoneName),
		})
		cert = awscertificatemanager.NewCertificate(b.stack, jsii.String("Certificate"), &awscertificatemanager.CertificateProps{
			DomainName: jsii.String(p.DomainName),
			Validation: awscertificatemanager.CertificateValidation_FromDns(zone),
		})
	}
	b.domainName = awsapigatewayv2.NewDomainName(b.stack, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
		DomainName:     jsii.String(p.DomainName),
		Certificate:    cert,
		EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
		SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
	})
	if zone != nil {
		awsroute53.NewARecord(b.stack, jsii.String("DomainRecord"), &awsroute53.ARecordProps{
			Zone:       zone,
			RecordName: jsii.String(p.DomainName),
			Target: awsroute53.RecordTarget_FromAlias(awsroute53targets.NewApiGatewayv2DomainProperties(
				b.domainName.RegionalDomainName(), b.domainName.RegionalHostedZoneId())),
		})
	}
}

// domainMapping is the HTTP API's mapping of the custom domain, if any.
func (b *builder) domainMapping() *awsapigatewayv2.DomainMappingOptions {
	if b.domainName == nil {
		return nil
	}
	return &awsapigatewayv2.DomainMappingOptions{DomainName: b.domainName}
}

// instanceURL is INSTANCE_URL, once the API exists: https://<domain>
// with a custom domain (so the two cannot disagree), else fedgate:instanceUrl
// (a front the operator runs), else the API's own execute-api address — a
// trial instance: it works, but it is known to peers by an address that
// changes when a domain is set (see federationNotice).
func (b *builder) instanceURL() *string {
	switch {
	case b.props.DomainName != "":
		return jsii.String("https://" + b.props.DomainName)
	case b.props.InstanceURL != "":
		return jsii.String(b.props.InstanceURL)
	}
	return b.httpAPI.ApiEndpoint()
}

// federationNotice is what the Federation output tells the operator about
// peers and this instance's address.
func (b *builder) federationNotice() string {
	p := b.props
	switch {
	case p.HostedZoneID != "":
		return "Ready: peers reach and verify this instance at https://" + p.DomainName + " (certificate and DNS record made by this stack)."
	case p.DomainName != "":
		return "Point DNS for " + p.DomainName + " at the DomainTarget output (a CNAME, or an alias A record to DomainTargetZone); until it resolves, peers cannot reach or verify this instance."
	case p.InstanceURL != "":
		return "No custom domain: INSTANCE_URL is " + p.InstanceURL + ", which this stack does not serve. Peers cannot verify this instance until that URL reaches ApiUrl; set fedgate:domainName to have the stack do it."
	}
	return "Trial instance without a domain: INSTANCE_URL is this API's execute-api address. Peers know an instance by its URL, so connections made now end when the address changes: set fedgate:domainName (README, Deploy) before federating."
}

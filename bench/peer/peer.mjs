// node-oidc-provider as the benchmark's reference peer: one client_credentials client, its
// in-memory adapter, its defaults otherwise.
// Usage: node peer.mjs PORT CLIENT_ID CLIENT_SECRET SCOPE [opaque|jwt]
// "jwt" (not a default) makes its access tokens ES256-signed JWTs as ours are, through its
// resource indicators feature with one default resource: the same work per grant as ours.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, scope, tokens = 'opaque'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const features = { clientCredentials: { enabled: true } };
const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope,
  }],
  scopes: ['openid', 'offline_access', ...scope.split(' ')],
  features,
};

if (tokens === 'jwt') {
  const privateJwk = (type, options, alg) => ({
    ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }), kid: `bench-${alg}`, use: 'sig', alg,
  });
  configuration.jwks = { keys: [privateJwk('rsa', { modulusLength: 2048 }, 'RS256'),
    privateJwk('ec', { namedCurve: 'P-256' }, 'ES256')] };
  features.resourceIndicators = {
    enabled: true,
    defaultResource: () => issuer,
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({
      scope, audience: issuer, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
    }),
  };
} else if (tokens !== 'opaque') {
  throw new Error(`tokens must be opaque or jwt, not ${tokens}`);
}

const provider = new Provider(issuer, configuration);

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`peer listening on ${issuer} (${tokens} access tokens)`);
});

export type { TokenProvider, FetchedToken, TokenCacheOptions } from './token-provider.js';
export { createCachedTokenProvider } from './token-provider.js';
export type { JwtBearerOptions, JwtBearerTokenProvider } from './jwt-bearer.js';
export { createJwtBearerTokenProvider, JWT_BEARER_GRANT } from './jwt-bearer.js';
export type { StaticTokenOptions } from './static.js';
export { createStaticTokenProvider } from './static.js';
export type { JwtBearerClaims } from './jwt.js';
export { signJwt } from './jwt.js';

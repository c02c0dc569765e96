// ES module entry: the same objects as the CommonJS entry (one native module instance).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const cjs = require('./index.js')

export const {
  Client,
  CozeResponse,
  CozeStream,
  WebSocketSession,
  createWebSocketClass,
  CozeError,
  ErrorCodes,
  OAuthApp,
  OAuthToken,
  TokenRefresh,
  DeviceCode,
  AuthorizeUrl,
  setLogger,
  LOG_LEVELS,
  cozeAxiosAdapter,
  cozeAxiosInstance,
  coreVersion,
} = cjs
export default cjs

// passport-http-bearer ships no types; the security tests use only its Strategy constructor.
declare module 'passport-http-bearer' {
  import { Strategy as PassportStrategy } from 'passport-strategy';
  type Verified = (error: unknown, user?: object | false, info?: object | string) => void;
  export class Strategy extends PassportStrategy {
    constructor(verify: (token: string, done: Verified) => void);
    name: string;
  }
}

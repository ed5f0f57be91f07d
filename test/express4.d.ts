// Express 4 is installed under the alias `express4` to test both majors; it has the same types as express.
declare module 'express4' {
  import express from 'express';
  export default express;
}

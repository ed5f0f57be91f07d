// express-mcp-sse/redis: placeholder until the Redis bus lands.
export {};

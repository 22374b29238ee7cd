"""The console's pages, one module per room of the office (登录, 待办, 信息, 运维)."""

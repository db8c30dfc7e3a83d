"""QQ through OneBot v11 (NapCat, Lagrange): HTTP POST events and a reverse WebSocket."""

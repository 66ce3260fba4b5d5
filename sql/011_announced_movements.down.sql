DROP TABLE announced_movements;

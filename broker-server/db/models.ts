import {
  DataTypes,
  Model,
  type InferAttributes,
  type InferCreationAttributes,
  type CreationOptional,
  type Sequelize,
} from 'sequelize';
import type { JobKind } from '../../protocol/messages';
import type { JobStatus } from '../../protocol/states';

export class PrintJobRow extends Model<InferAttributes<PrintJobRow>, InferCreationAttributes<PrintJobRow>> {
  declare id: CreationOptional<number>;
  declare uid: CreationOptional<string | null>;
  declare printerId: string;
  declare content: string;
  declare kind: CreationOptional<JobKind>;
  declare status: CreationOptional<JobStatus>;
  declare error: CreationOptional<string | null>;
  declare reprintOf: CreationOptional<number | null>;
  declare createdBy: CreationOptional<string | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
  declare sentAt: CreationOptional<Date | null>;
  declare receivedAt: CreationOptional<Date | null>;
  declare printedAt: CreationOptional<Date | null>;
  declare finishedAt: CreationOptional<Date | null>;
}

export class PrinterRow extends Model<InferAttributes<PrinterRow>, InferCreationAttributes<PrinterRow>> {
  declare id: string;
  declare state: string;
  declare detail: CreationOptional<string | null>;
  declare condition: CreationOptional<string | null>;
  declare columns: CreationOptional<number | null>;
  declare codepage: CreationOptional<string | null>;
  declare firstSeenAt: CreationOptional<Date | null>;
  declare lastSeenAt: CreationOptional<Date | null>;
  declare updatedAt: CreationOptional<Date>;
}

export interface Models {
  PrintJob: typeof PrintJobRow;
  Printer: typeof PrinterRow;
}

export function definePrintJobModel(sequelize: Sequelize): typeof PrintJobRow {
  return PrintJobRow.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      uid: { type: DataTypes.STRING(36), allowNull: true, unique: true, defaultValue: DataTypes.UUIDV4 },
      printerId: { type: DataTypes.STRING(64), allowNull: false },
      content: { type: DataTypes.TEXT, allowNull: false },
      kind: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'message' },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      error: { type: DataTypes.TEXT, allowNull: true },
      reprintOf: { type: DataTypes.INTEGER, allowNull: true },
      createdBy: { type: DataTypes.STRING(80), allowNull: true },
      createdAt: DataTypes.DATE,
      updatedAt: DataTypes.DATE,
      sentAt: { type: DataTypes.DATE, allowNull: true },
      receivedAt: { type: DataTypes.DATE, allowNull: true },
      printedAt: { type: DataTypes.DATE, allowNull: true },
      finishedAt: { type: DataTypes.DATE, allowNull: true },
    },
    { sequelize, tableName: 'print_jobs', modelName: 'PrintJob' },
  );
}

export function definePrinterModel(sequelize: Sequelize): typeof PrinterRow {
  return PrinterRow.init(
    {
      id: { type: DataTypes.STRING(64), primaryKey: true },
      state: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'offline' },
      detail: { type: DataTypes.TEXT, allowNull: true },
      condition: { type: DataTypes.STRING(32), allowNull: true },
      columns: { type: DataTypes.INTEGER, allowNull: true },
      codepage: { type: DataTypes.STRING(32), allowNull: true },
      firstSeenAt: { type: DataTypes.DATE, allowNull: true },
      lastSeenAt: { type: DataTypes.DATE, allowNull: true },
      updatedAt: DataTypes.DATE,
    },
    { sequelize, tableName: 'printers', modelName: 'Printer', createdAt: false },
  );
}
